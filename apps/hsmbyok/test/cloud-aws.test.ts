/**
 * `hsmbyok aws ...` end to end: the BUILT CLI against the KMS emulator (started in-process) and SoftHSM.
 * SoftHSM's OAEP is SHA-1 only, so the CLI must choose (and say) the SHA-1 algorithms. Every import ends with
 * the CLI's own verify step and an independent check through the real AWS SDK against the HSM's copy.
 */
import { createPublicKey, createVerify, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
} from '@aws-sdk/client-kms';
import { EMULATOR_AWS_CREDENTIALS, type KmsEmulator, startKmsEmulator } from '@byok/emulators';
import { CKM } from '@byok/hsm-pkcs11';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoFile, expectOneErrorLine, PIN_ARGS, runCloud, stepLines } from './cloud-helpers.js';
import { createFixture, type Fixture, hsmPublicKey, objectsLabelled, withSession } from './helpers.js';

describe('hsmbyok aws (KMS emulator, SoftHSM)', () => {
  let fx: Fixture;
  let kms: KmsEmulator;
  let client: KMSClient;
  let stateDir: string;
  let args: string[];
  const env: Record<string, string> = {
    AWS_ACCESS_KEY_ID: EMULATOR_AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_AWS_CREDENTIALS.secretAccessKey,
    // The SDK's multi-line notice about Node 22 (documented opt-out); stderr must otherwise stay empty.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };

  beforeAll(async () => {
    fx = await createFixture();
    stateDir = await mkdtemp(join(tmpdir(), 'hsmbyok-kms-'));
    kms = await startKmsEmulator({ stateDir, credentials: EMULATOR_AWS_CREDENTIALS });
    client = new KMSClient({
      endpoint: kms.endpoint,
      region: kms.region,
      credentials: EMULATOR_AWS_CREDENTIALS,
    });
    args = ['--region', kms.region, '--endpoint', kms.endpoint];
  });

  afterAll(async () => {
    client?.destroy();
    await kms?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
    await fx?.cleanup();
  });

  function arnOf(stdout: string): string {
    const arn = /key ARN: (\S+)/.exec(stdout)?.[1];
    if (!arn) throw new Error(`no key ARN in:\n${stdout}`);
    return arn;
  }

  it('byok: SYMMETRIC_DEFAULT with RSAES_OAEP_SHA_1 (SoftHSM), said in the output; KMS round trip', async () => {
    const dir = await fx.workdir(
      { targetKeyName: 'aws-aes', targetKeySpec: 'CKK_AES, 256, none' },
      { kek: false },
    );
    const r = await runCloud(
      fx,
      dir,
      ['aws', 'byok', ...args, '--wrapping-key-spec', 'RSA_2048', ...PIN_ARGS],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(stepLines(r.stdout)).toHaveLength(5);
    expect(r.stdout).toContain('RSAES_OAEP_SHA_1');
    expect(r.stdout).toMatch(/note: RSAES_OAEP_SHA_1 chosen: the HSM cannot do OAEP with SHA-256/);
    const arn = arnOf(r.stdout);
    const meta = await client.send(new DescribeKeyCommand({ KeyId: arn }));
    expect(meta.KeyMetadata).toMatchObject({
      Origin: 'EXTERNAL',
      KeyState: 'Enabled',
      KeySpec: 'SYMMETRIC_DEFAULT',
    });
    const plaintext = randomBytes(48);
    const enc = await client.send(new EncryptCommand({ KeyId: arn, Plaintext: plaintext }));
    const dec = await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
    expect(Buffer.from(dec.Plaintext ?? new Uint8Array())).toEqual(plaintext);
  });

  it('byok: RSA_2048 with RSA_AES_KEY_WRAP_SHA_1; KMS signs, the HSM public key verifies', async () => {
    const dir = await fx.workdir(
      { targetKeyName: 'aws-rsa', targetKeySpec: 'CKK_RSA, 2048, none' },
      { kek: false },
    );
    const r = await runCloud(
      fx,
      dir,
      ['aws', 'byok', ...args, '--wrapping-key-spec', 'RSA_2048', '--json', ...PIN_ARGS],
      env,
    );
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      imported: { keyArn: string };
      wrappingAlgorithm: string;
      steps: unknown[];
    };
    expect(doc.wrappingAlgorithm).toBe('RSA_AES_KEY_WRAP_SHA_1');
    expect(doc.steps).toHaveLength(5);
    const arn = doc.imported.keyArn;
    const hsmKey = await hsmPublicKey(fx, 'aws-rsa', { kind: 'rsa', bits: 2048 });
    const pub = await client.send(new GetPublicKeyCommand({ KeyId: arn }));
    const cloudKey = createPublicKey({
      key: Buffer.from(pub.PublicKey ?? new Uint8Array()),
      format: 'der',
      type: 'spki',
    });
    expect(cloudKey.export({ type: 'spki', format: 'der' })).toEqual(
      hsmKey.export({ type: 'spki', format: 'der' }),
    );
    const message = randomBytes(40);
    const sig = await client.send(
      new SignCommand({
        KeyId: arn,
        Message: message,
        MessageType: 'RAW',
        SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
      }),
    );
    expect(
      createVerify('sha256')
        .update(message)
        .verify(hsmKey, Buffer.from(sig.Signature ?? new Uint8Array())),
    ).toBe(true);
  });

  it('byok: HMAC_256 (generic secret generated in the HSM); KMS GenerateMac equals the HSM HMAC', async () => {
    const dir = await fx.workdir(
      {
        targetKeyName: 'aws-hmac',
        targetKeySpec: 'CKK_RSA, 2048, none',
        targetKeyFlags: 'CKF_SIGN, CKF_VERIFY, CKF_TOKEN, CKF_EXTRACTABLE, CKF_CREATE_IF_NOT_FOUND',
      },
      { kek: false },
    );
    const r = await runCloud(
      fx,
      dir,
      ['aws', 'byok', ...args, '--key-spec', 'HMAC_256', '--wrapping-key-spec', 'RSA_2048', ...PIN_ARGS],
      env,
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('proof: mac-equal');
    const arn = arnOf(r.stdout);
    const message = randomBytes(77);
    const mac = await client.send(
      new GenerateMacCommand({ KeyId: arn, Message: message, MacAlgorithm: 'HMAC_SHA_256' }),
    );
    const hsmMac = await withSession(fx, (s) => {
      const [found] = s.findTargetKeys('aws-hmac');
      if (!found) throw new Error('no key');
      return s.hmac(s.loadTargetKey(found, { kind: 'hmac', bits: 256 }), message, CKM.CKM_SHA256_HMAC);
    });
    expect(Buffer.from(mac.Mac ?? new Uint8Array())).toEqual(hsmMac);
  });

  it('split flow: prepare -> wrap -> import -> verify (HMAC_384)', async () => {
    const dir = await fx.workdir(
      {
        targetKeyName: 'aws-split',
        targetKeyFlags: 'CKF_SIGN, CKF_VERIFY, CKF_TOKEN, CKF_EXTRACTABLE, CKF_CREATE_IF_NOT_FOUND',
      },
      { kek: false },
    );
    const prep = await runCloud(
      fx,
      dir,
      [
        'aws',
        'prepare',
        ...args,
        '--key-spec',
        'HMAC_384',
        '--config',
        'HsmConfig.ini',
        '--wrapping-key-spec',
        'RSA_2048',
      ],
      env,
    );
    expect(prep.exitCode).toBe(0);
    const params = JSON.parse(readFileSync(join(dir, 'importParameters.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(params).toMatchObject({
      KeySpec: 'HMAC_384',
      WrappingAlgorithm: 'RSAES_OAEP_SHA_1',
      WrappingKeySpec: 'RSA_2048',
    });
    expect(Date.parse(params.ParametersValidTo ?? '')).toBeGreaterThan(Date.now());
    expect(readFileSync(join(dir, 'wrappingKey.pem'), 'utf8')).toContain('BEGIN PUBLIC KEY');
    const keyId = params.KeyId ?? '';
    // HMAC keys cannot be named in HsmConfig.ini (its targetKeySpec says RSA here): `aws wrap` takes the
    // spec from the parameters, and the label, token and flags from HsmConfig.ini.
    const wrapped = await runCloud(fx, dir, ['aws', 'wrap', ...PIN_ARGS], env);
    expect(wrapped.stderr).toBe('');
    expect(wrapped.exitCode, wrapped.stdout).toBe(0);
    const imported = await runCloud(
      fx,
      dir,
      [
        'aws',
        'import',
        ...args,
        '--key-id',
        keyId,
        '--material',
        'wrappedKeyMaterial.bin',
        '--token',
        'importToken.bin',
      ],
      env,
    );
    expect(imported.exitCode, imported.stdout).toBe(0);
    const verified = await runCloud(fx, dir, ['aws', 'verify', ...args, '--key-id', keyId, ...PIN_ARGS], env);
    expect(verified.exitCode, verified.stdout).toBe(0);
    expect(verified.stdout).toContain('proof: mac-equal');
    const message = randomBytes(10);
    const mac = await client.send(
      new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_384' }),
    );
    const hsmMac = await withSession(fx, (s) => {
      const [found] = s.findTargetKeys('aws-split');
      if (!found) throw new Error('no key');
      return s.hmac(s.loadTargetKey(found, { kind: 'hmac', bits: 384 }), message, CKM.CKM_SHA384_HMAC);
    });
    expect(Buffer.from(mac.Mac ?? new Uint8Array())).toEqual(hsmMac);
  });

  it('an expired import token (emulator clock +25 h): one line, exit 1, the key stays PendingImport', async () => {
    const dir = await fx.workdir(
      { targetKeyName: 'aws-late', targetKeySpec: 'CKK_AES, 256, none' },
      { kek: false },
    );
    const prep = await runCloud(
      fx,
      dir,
      ['aws', 'prepare', ...args, '--config', 'HsmConfig.ini', '--wrapping-key-spec', 'RSA_2048'],
      env,
    );
    expect(prep.exitCode).toBe(0);
    const keyId = (JSON.parse(readFileSync(join(dir, 'importParameters.json'), 'utf8')) as { KeyId: string })
      .KeyId;
    const wrapped = await runCloud(fx, dir, ['aws', 'wrap', ...PIN_ARGS], env);
    expect(wrapped.exitCode).toBe(0);
    const res = await fetch(`${kms.endpoint}/_emulator/clock`, {
      method: 'POST',
      body: JSON.stringify({ advanceSeconds: 25 * 3600 }),
    });
    expect(res.ok).toBe(true);
    const r = await runCloud(
      fx,
      dir,
      [
        'aws',
        'import',
        ...args,
        '--key-id',
        keyId,
        '--material',
        'wrappedKeyMaterial.bin',
        '--token',
        'importToken.bin',
      ],
      env,
    );
    expectOneErrorLine(r, 'IMPORT_TOKEN_EXPIRED');
    const meta = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(meta.KeyMetadata?.KeyState).toBe('PendingImport');
  });

  it('throttling (429) and 500s on prepare: one line, exit 1, no output files', async () => {
    const dir = await fx.workdir({}, { kek: false });
    for (const kind of ['throttle', 'error'] as const) {
      kms.faults.inject(kind, { count: 5, retryAfterSeconds: 0 });
      try {
        const r = await runCloud(
          fx,
          dir,
          ['aws', 'prepare', ...args, '--key-spec', 'SYMMETRIC_DEFAULT', '--max-attempts', '1'],
          env,
        );
        expectOneErrorLine(r, kind === 'throttle' ? 'CLOUD_THROTTLED' : 'CLOUD_UNAVAILABLE');
        expectNoFile(dir, 'importParameters.json', 'importToken.bin', 'wrappingKey.pem');
      } finally {
        kms.faults.clear();
      }
    }
  });

  it('an algorithm the HSM cannot do is refused before CreateKey and before any key is generated', async () => {
    const dir = await fx.workdir(
      { targetKeyName: 'aws-undo', targetKeySpec: 'CKK_AES, 256, none' },
      { kek: false },
    );
    // SHA-256 forced: SoftHSM cannot, refused before CreateKey (nothing made anywhere).
    const r = await runCloud(
      fx,
      dir,
      ['aws', 'byok', ...args, '--algorithm', 'RSAES_OAEP_SHA_256', ...PIN_ARGS],
      env,
    );
    expectOneErrorLine(r, 'OAEP_HASH_UNSUPPORTED');
    expect(await objectsLabelled(fx, 'aws-undo')).toEqual([]);
  });
});
