/**
 * `hsmbyok azure ...` end to end: the BUILT CLI against the Key Vault emulator (vault and Managed HSM mode,
 * started in-process) and SoftHSM. Every import ends with the CLI's own verify step and an independent check:
 * the key is used through the real Azure SDK and compared with the HSM's copy.
 */
import { createVerify, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CryptographyClient, type JsonWebKey, KeyClient } from '@azure/keyvault-keys';
import { findCurve, type KeySpec, parseKekPem } from '@byok/core';
import {
  EMULATOR_TOKEN,
  emulatorCredential,
  type KeyVaultEmulator,
  startKeyVaultEmulator,
} from '@byok/emulators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoFile, expectOneErrorLine, PIN_ARGS, runCloud, stepLines } from './cloud-helpers.js';
import {
  createFixture,
  type Fixture,
  hsmPublicKey,
  OPTION,
  objectsLabelled,
  withSession,
} from './helpers.js';

const P256 = findCurve('P-256');
if (!P256) throw new Error('no P-256');

function jwkPublicKey(jwk: JsonWebKey) {
  const b64 = (v: Uint8Array | undefined) => Buffer.from(v ?? new Uint8Array()).toString('base64url');
  return jwk.kty?.startsWith('RSA')
    ? { kty: 'RSA', n: b64(jwk.n), e: b64(jwk.e) }
    : { kty: 'EC', crv: jwk.crv, x: b64(jwk.x), y: b64(jwk.y) };
}

interface Vault {
  readonly kv: KeyVaultEmulator;
  readonly client: KeyClient;
  readonly args: string[];
  readonly env: Record<string, string>;
  readonly dir: string;
}

async function vault(mode: 'vault' | 'managedhsm'): Promise<Vault> {
  const dir = await mkdtemp(join(tmpdir(), `hsmbyok-kv-${mode}-`));
  const kv = await startKeyVaultEmulator({ stateDir: dir, mode });
  const client = new KeyClient(kv.url, emulatorCredential(), {
    tlsOptions: { ca: kv.caCertPem },
    disableChallengeResourceVerification: true,
  });
  return {
    kv,
    client,
    dir,
    args: [
      '--vault',
      kv.url,
      '--ca-file',
      kv.caCertPath,
      ...(mode === 'managedhsm' ? ['--managed-hsm'] : []),
    ],
    env: { AZURE_ACCESS_TOKEN: EMULATOR_TOKEN },
  };
}

/** Independent check: the cloud key signs, node:crypto verifies with the HSM's public key. */
async function cloudSignsLikeHsm(v: Vault, fx: Fixture, name: string, label: string, spec: KeySpec) {
  const key = await v.client.getKey(name);
  const hsmKey = await hsmPublicKey(fx, label, spec);
  const cloudPem = jwkPublicKey(key.key ?? {});
  const { createPublicKey } = await import('node:crypto');
  const cloudKey = createPublicKey({ key: cloudPem, format: 'jwk' });
  expect(cloudKey.export({ type: 'spki', format: 'der' })).toEqual(
    hsmKey.export({ type: 'spki', format: 'der' }),
  );
  const crypto = new CryptographyClient(key, emulatorCredential(), {
    tlsOptions: { ca: v.kv.caCertPem },
    disableChallengeResourceVerification: true,
  });
  const message = randomBytes(64);
  const algorithm = spec.kind === 'rsa' ? 'RS256' : 'ES256';
  const signed = await crypto.signData(algorithm, message);
  const ok = createVerify('sha256')
    .update(message)
    .verify(
      spec.kind === 'rsa' ? hsmKey : { key: hsmKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signed.result),
    );
  expect(ok).toBe(true);
}

describe('hsmbyok azure (Key Vault emulator, SoftHSM)', () => {
  let fx: Fixture;
  let kv: Vault;
  let mhsm: Vault;

  beforeAll(async () => {
    fx = await createFixture();
    [kv, mhsm] = await Promise.all([vault('vault'), vault('managedhsm')]);
  });

  afterAll(async () => {
    await Promise.all([kv?.kv.close(), mhsm?.kv.close()]);
    await Promise.all([
      kv && rm(kv.dir, { recursive: true, force: true }),
      mhsm && rm(mhsm.dir, { recursive: true, force: true }),
    ]);
    await fx?.cleanup();
  });

  it('byok: RSA-2048 in one run, six step lines, verified, then used against the HSM copy', async () => {
    const dir = await fx.workdir(
      { targetKeyName: 'az-rsa', targetKeySpec: 'CKK_RSA, 2048, none' },
      { kek: false },
    );
    const r = await runCloud(
      fx,
      dir,
      ['azure', 'byok', ...kv.args, '--name', 'cmk-rsa', '--kek-size', '2048', ...PIN_ARGS],
      kv.env,
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const steps = stepLines(r.stdout);
    expect(steps.map((l) => l.replace(/:.*$/, ''))).toEqual([
      '[1/6] open HSM',
      '[2/6] prepare KEK',
      '[3/6] wrap in the HSM',
      '[4/6] import',
      '[5/6] verify',
      '[6/6] clean up',
    ]);
    for (const line of steps) expect(line).toMatch(/ \.\.\. done \(\d+\.\d s\)$/);
    expect(r.stdout).toContain('proof: cloud-sign-hsm-verify');
    expect(r.stdout).not.toContain(fx.env.HSMBYOK_TEST_PIN ?? 'never');
    await cloudSignsLikeHsm(kv, fx, 'cmk-rsa', 'az-rsa', { kind: 'rsa', bits: 2048 });
    // The KEK is kept unless --delete-kek, with key_ops exactly [import].
    expect((await kv.client.getKey('cmk-rsa-kek')).keyOperations).toEqual(['import']);
  });

  it('byok: EC P-256 with --json and --delete-kek', async () => {
    const dir = await fx.workdir(
      { targetKeyName: 'az-ec', targetKeySpec: 'CKK_EC, 256, "P-256"' },
      { kek: false },
    );
    const r = await runCloud(
      fx,
      dir,
      [
        'azure',
        'byok',
        ...kv.args,
        '--name',
        'cmk-ec',
        '--kek-size',
        '2048',
        '--delete-kek',
        '--json',
        ...PIN_ARGS,
      ],
      kv.env,
    );
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ ok: true, command: 'azure byok', imported: { spec: 'EC P-256' } });
    expect((doc.steps as unknown[]).length).toBe(6);
    expect((doc.cleanup as { deleted: string[] }).deleted).toHaveLength(1);
    expect(r.stdout).not.toContain(fx.env.HSMBYOK_TEST_PIN ?? 'never');
    await cloudSignsLikeHsm(kv, fx, 'cmk-ec', 'az-ec', { kind: 'ec', bits: 256, curve: P256 });
    await expect(kv.client.getKey('cmk-ec-kek')).rejects.toThrow();
  });

  it('byok: AES-256 into a Managed HSM (oct-HSM), the cloud encrypts like the HSM', async () => {
    const dir = await fx.workdir(
      { targetKeyName: 'az-aes', targetKeySpec: 'CKK_AES, 256, none' },
      { kek: false },
    );
    const r = await runCloud(
      fx,
      dir,
      ['azure', 'byok', ...mhsm.args, '--name', 'cmk-aes', '--kek-size', '2048', ...PIN_ARGS],
      mhsm.env,
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('proof: cloud-encrypt-equals-hsm');
    const key = await mhsm.client.getKey('cmk-aes');
    const crypto = new CryptographyClient(key, emulatorCredential(), {
      tlsOptions: { ca: mhsm.kv.caCertPem },
      disableChallengeResourceVerification: true,
    });
    const iv = randomBytes(16);
    const plaintext = randomBytes(32);
    const cloud = await crypto.encrypt({ algorithm: 'A256CBC', plaintext, iv });
    const hsm = await withSession(fx, (s) => {
      const [found] = s.findTargetKeys('az-aes');
      if (!found) throw new Error('no key');
      return s.encryptAes(s.loadTargetKey(found, { kind: 'aes', bits: 256 }), iv, plaintext);
    });
    expect(Buffer.from(cloud.result)).toEqual(hsm);
  });

  it('split flow: kek create -> kek download -> drop-in --generate-and-wrap-target-key -> azure import', async () => {
    const dir = await fx.workdir(
      { targetKeyName: 'az-split', targetKeySpec: 'CKK_RSA, 2048, none' },
      { kek: false },
    );
    const created = await runCloud(
      fx,
      dir,
      ['azure', 'kek', 'create', ...kv.args, '--name', 'split-kek', '--size', '2048'],
      kv.env,
    );
    expect(created.exitCode).toBe(0);
    const kid = /kid: (\S+)/.exec(created.stdout)?.[1] ?? '';
    expect(kid).toMatch(/\/keys\/split-kek\/[0-9a-f]+$/);
    const downloaded = await runCloud(
      fx,
      dir,
      ['azure', 'kek', 'download', ...kv.args, '--name', 'split-kek'],
      kv.env,
    );
    expect(downloaded.exitCode).toBe(0);
    expect(parseKekPem(readFileSync(join(dir, 'kekBlob.pem'))).modulusBits).toBe(2048);
    // The runbook's HsmConfig.ini gets the kid; the drop-in command is run exactly as before.
    const config = readFileSync(join(dir, 'HsmConfig.ini'), 'utf8').replace(/kid = ".*"/, `kid = "${kid}"`);
    await writeFile(join(dir, 'HsmConfig.ini'), config);
    await writeFile(join(dir, 'pin.txt'), `${fx.env.HSMBYOK_TEST_PIN}\n`, { mode: 0o600 });
    const wrapped = await runCloud(fx, dir, [OPTION, '--pin-file', 'pin.txt']);
    expect(wrapped.exitCode).toBe(0);
    expect(wrapped.stdout.trim().split('\n').at(-1)).toBe('INFO: overall success');
    const imported = await runCloud(
      fx,
      dir,
      ['azure', 'import', ...kv.args, '--name', 'cmk-split', '--kty', 'RSA-HSM'],
      kv.env,
    );
    expect(imported.exitCode).toBe(0);
    expect(imported.stdout).toContain('RSA-2048, key_ops [sign, verify]');
    const verified = await runCloud(
      fx,
      dir,
      ['azure', 'verify', ...kv.args, '--name', 'cmk-split', '--pin-file', 'pin.txt'],
      kv.env,
    );
    expect(verified.exitCode).toBe(0);
    expect(verified.stdout).toContain('proof: public-key-equal');
    await cloudSignsLikeHsm(kv, fx, 'cmk-split', 'az-split', { kind: 'rsa', bits: 2048 });
  });

  it('refuses a KEK with extra key_ops before the HSM key is generated', async () => {
    await kv.client.createRsaKey('loose-kek', { hsm: true, keySize: 2048, keyOps: ['import', 'sign'] });
    const dir = await fx.workdir(
      { targetKeyName: 'az-never', targetKeySpec: 'CKK_RSA, 2048, none' },
      { kek: false },
    );
    const r = await runCloud(
      fx,
      dir,
      ['azure', 'byok', ...kv.args, '--name', 'cmk-never', '--kek-name', 'loose-kek', ...PIN_ARGS],
      kv.env,
    );
    const line = expectOneErrorLine(r, 'KEK_INVALID_OPS');
    expect(line).toContain('also allows sign');
    expect(await objectsLabelled(fx, 'az-never')).toEqual([]);
    await expect(kv.client.getKey('cmk-never')).rejects.toThrow();
  });

  it('a wrong CA file: one line, exit 1, no kekBlob.pem', async () => {
    const other = await vault('vault');
    try {
      const dir = await fx.workdir({}, { kek: false });
      const args = [
        'azure',
        'kek',
        'download',
        '--vault',
        kv.kv.url,
        '--ca-file',
        other.kv.caCertPath,
        '--name',
        'split-kek',
      ];
      const r = await runCloud(fx, dir, [...args, '--max-attempts', '1'], kv.env);
      expectOneErrorLine(r, /^ERROR: CLOUD_[A-Z_]+: /);
      expectNoFile(dir, 'kekBlob.pem');
    } finally {
      await other.kv.close();
      await rm(other.dir, { recursive: true, force: true });
    }
  });

  it('emulator 500s: one line, exit 1, no kekBlob.pem and no temporary file', async () => {
    const dir = await fx.workdir({}, { kek: false });
    kv.kv.faults.inject('error', { count: 5 });
    try {
      const r = await runCloud(
        fx,
        dir,
        ['azure', 'kek', 'download', ...kv.args, '--name', 'split-kek', '--max-attempts', '1'],
        kv.env,
      );
      expectOneErrorLine(r, 'CLOUD_UNAVAILABLE');
      expectNoFile(dir, 'kekBlob.pem');
      expect(readFileSync(join(dir, 'HsmConfig.ini'), 'utf8')).toContain('[ byok ]');
    } finally {
      kv.kv.faults.clear();
    }
  });

  it('bad input: unknown option, missing --name, oct-HSM into a vault', async () => {
    const dir = await fx.workdir({}, { kek: false });
    expectOneErrorLine(
      await runCloud(fx, dir, ['azure', 'byok', '--vault', kv.kv.url, '--nmae', 'x']),
      'CKR_ARGUMENTS_BAD',
    );
    expectOneErrorLine(
      await runCloud(fx, dir, ['azure', 'kek', 'create', ...kv.args], kv.env),
      /--name is required/,
    );
    const aes = await fx.workdir(
      { targetKeyName: 'az-aes-vault', targetKeySpec: 'CKK_AES, 256, none' },
      { kek: false },
    );
    const r = await runCloud(
      fx,
      aes,
      ['azure', 'byok', ...kv.args, '--name', 'cmk-aes-v', ...PIN_ARGS],
      kv.env,
    );
    expectOneErrorLine(r, 'UNSUPPORTED_KEY_SPEC');
    expect(await objectsLabelled(fx, 'az-aes-vault')).toEqual([]);
  });
});
