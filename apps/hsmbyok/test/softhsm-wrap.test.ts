/**
 * Success paths on SoftHSM (two-step: CKM_RSA_PKCS_OAEP + SoftHSM's RFC 5649 0x210A), proven for real:
 * the .byok ciphertext is unwrapped with the test KEK's private key and compared with the key in the HSM.
 */
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KeySpec, parseKeySpec } from '@byok/core';
import { proveByokFile } from '@byok/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFixture,
  type Fixture,
  hsmAesEncrypt,
  hsmPublicKey,
  lastLine,
  leftovers,
  OPTION,
  objectsLabelled,
  PIN_ARGS,
  runHsmbyok,
} from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await createFixture();
});
afterAll(async () => {
  await fx?.cleanup();
});

interface Case {
  readonly name: string;
  readonly ini: string;
  readonly timeout?: number;
}

const CASES: readonly Case[] = [
  { name: 'rsa-2048', ini: 'CKK_RSA, 2048, none' },
  { name: 'rsa-3072', ini: 'CKK_RSA, 3072, none', timeout: 180_000 },
  { name: 'rsa-4096', ini: 'CKK_RSA, 4096, none', timeout: 300_000 },
  { name: 'ec-p256', ini: 'CKK_EC, 256, "P-256"' },
  { name: 'ec-p384', ini: 'CKK_EC, 384, "secp384r1"' },
  { name: 'ec-p521', ini: 'CKK_EC, 521, "P-521"' },
  { name: 'ec-secp256k1', ini: 'CKK_EC, 256, "P-256K"' },
  { name: 'aes-128', ini: 'CKK_AES, 128, none' },
  { name: 'aes-256', ini: 'CKK_AES, 256, none' },
];

/** Proves the blob holds the HSM's key: public-key equality (RSA/EC) or same AES output (AES). */
async function proveBlob(dir: string, label: string, spec: KeySpec): Promise<void> {
  const file = join(dir, 'targetBlob.byok');
  if (spec.kind === 'aes') {
    const material = await proveByokFile(file, fx.kek.privateKey, { oaepHash: 'sha1', spec });
    if (material.kind !== 'aes') throw new Error('expected AES material');
    const block = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const fromHsm = await hsmAesEncrypt(fx, label, spec, block);
    const cipher = createCipheriv(`aes-${spec.bits}-ecb`, material.secretKey, null).setAutoPadding(false);
    const inSoftware = Buffer.concat([cipher.update(block), cipher.final()]);
    expect(inSoftware.equals(fromHsm)).toBe(true);
    return;
  }
  const expectedPublicKey = await hsmPublicKey(fx, label, spec);
  const material = await proveByokFile(file, fx.kek.privateKey, {
    oaepHash: 'sha1',
    spec,
    expectedPublicKey,
  });
  expect(material.kind).toBe(spec.kind);
}

describe('generate-and-wrap on SoftHSM, generated keys', () => {
  for (const c of CASES) {
    it(
      `${c.name}: generates, wraps and writes a blob that unwraps to the HSM's key`,
      async () => {
        const label = `gen-${c.name}`;
        const dir = await fx.workdir({ targetKeyName: label, targetKeySpec: c.ini });
        const run = await runHsmbyok([OPTION, ...PIN_ARGS], { cwd: dir, env: fx.env });
        expect(run.stderr).toBe('');
        expect(run.exitCode, run.stdout).toBe(0);
        expect(lastLine(run.stdout)).toBe('INFO: overall success');
        expect(run.stdout).toContain(`WARNING: targetKeyName not found - generating a new key: ${label}\n`);
        expect(run.stdout).toContain('\nINFO: targetBlob.byok\n');
        expect(run.stdout).toMatch(
          /INFO: wrap method \(two-step\): .*CKM_AES_KEY_WRAP_PAD \(0x0000210A\) as RFC 5649/,
        );
        expect(leftovers(dir)).toEqual(['targetBlob.byok']);

        const blob = JSON.parse(readFileSync(join(dir, 'targetBlob.byok'), 'utf8')) as Record<
          string,
          unknown
        >;
        expect(blob.schema_version).toBe('1.0.0');
        expect(blob.generator).toBe('hsmbyok 1.1.0; byok 2.6');
        await proveBlob(dir, label, parseKeySpec(c.ini));
        // The key stays on the token (CKF_TOKEN), exactly once.
        const kept = await objectsLabelled(fx, label);
        expect(kept.filter((o) => o.kind === 'private' || o.kind === 'secret')).toHaveLength(1);
      },
      c.timeout ?? 60_000,
    );
  }
});

describe('generate-and-wrap on SoftHSM, existing keys', () => {
  it('wraps an existing key without generating, and keeps the previous targetBlob.byok as a .bak', async () => {
    const label = 'existing-rsa';
    const dir = await fx.workdir({ targetKeyName: label });
    const first = await runHsmbyok([OPTION, ...PIN_ARGS], { cwd: dir, env: fx.env });
    expect(first.exitCode, first.stdout).toBe(0);
    const firstBlob = readFileSync(join(dir, 'targetBlob.byok'), 'utf8');

    // Option case-insensitive, like the original's strcasecmp.
    const second = await runHsmbyok(['--Generate-And-Wrap-Target-Key', ...PIN_ARGS], {
      cwd: dir,
      env: fx.env,
    });
    expect(second.exitCode, second.stdout).toBe(0);
    expect(second.stdout).not.toContain('generating a new key');
    expect(second.stdout).toContain(`INFO: targetKeyName found: ${label}: RSA-2048`);
    const backup = second.stdout.match(
      /WARNING: \.\/targetBlob\.byok already existed: the previous file is kept as (.*)\n/,
    );
    expect(backup).not.toBeNull();
    const files = leftovers(dir).sort();
    expect(files).toHaveLength(2);
    const bak = files.find((f) => f.endsWith('.bak'));
    expect(bak).toMatch(/^targetBlob\.byok\.\d{8}T\d{6}Z\.bak$/);
    expect(readFileSync(join(dir, bak ?? ''), 'utf8')).toBe(firstBlob);
    // A fresh ephemeral key each run: same target, different ciphertext.
    expect(readFileSync(join(dir, 'targetBlob.byok'), 'utf8')).not.toBe(firstBlob);
    await proveBlob(dir, label, parseKeySpec('CKK_RSA, 2048, none'));
    expect((await objectsLabelled(fx, label)).filter((o) => o.kind === 'private')).toHaveLength(1);
  });

  it('finds a key with CKA_PRIVATE=false instead of generating a duplicate next to it', async () => {
    const { makeKey } = await import('./helpers.js');
    const label = 'public-readable-aes';
    await makeKey(fx, { label, kind: 'aes', bits: 256, private: false, extractable: true });
    const dir = await fx.workdir({ targetKeyName: label, targetKeySpec: 'CKK_AES, 256, none' });
    const run = await runHsmbyok([OPTION, ...PIN_ARGS], { cwd: dir, env: fx.env });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.stdout).toContain('CKA_PRIVATE=false');
    expect(run.stdout).not.toContain('generating a new key');
    expect(await objectsLabelled(fx, label)).toHaveLength(1);
    await proveBlob(dir, label, parseKeySpec('CKK_AES, 256, none'));
  });

  it('honours --config, --kek, --out and --json (JSON on stdout, human lines on stderr)', async () => {
    const { mkdir, rename } = await import('node:fs/promises');
    const label = 'json-ec';
    const dir = await fx.workdir({ targetKeyName: label, targetKeySpec: 'CKK_EC, 256, "P-256"' });
    await mkdir(join(dir, 'in'));
    await mkdir(join(dir, 'out'));
    await rename(join(dir, 'HsmConfig.ini'), join(dir, 'in', 'ceremony.ini'));
    await rename(join(dir, 'kekBlob.pem'), join(dir, 'in', 'kek.pem'));
    const run = await runHsmbyok(
      [
        OPTION,
        '--config',
        'in/ceremony.ini',
        '--kek=in/kek.pem',
        '--out',
        'out/key.byok',
        '--json',
        ...PIN_ARGS,
      ],
      { cwd: dir, env: fx.env },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ ok: true, exitCode: 0, command: 'generate-and-wrap-target-key' });
    expect(doc.output).toMatchObject({ path: join(dir, 'out', 'key.byok') });
    expect(run.stderr).toContain('INFO: ReadIni: in/ceremony.ini: byok: targetKeyName: "json-ec": 7');
    expect(run.stderr).toContain('\nINFO: out/key.byok\n');
    expect(lastLine(run.stderr)).toBe('INFO: overall success');
    expect(run.stdout).not.toContain(fx.env.HSMBYOK_TEST_PIN);
    const expectedPublicKey = await hsmPublicKey(fx, label, parseKeySpec('CKK_EC, 256, "P-256"'));
    await proveByokFile(join(dir, 'out', 'key.byok'), fx.kek.privateKey, {
      oaepHash: 'sha1',
      spec: 'ec',
      expectedPublicKey,
    });
  });
});
