/**
 * AWS KMS against the emulator with the real @aws-sdk/client-kms (SigV4, JSON 1.1). Every key spec with every
 * wrapping algorithm KMS allows for it: through SoftHSM where SoftHSM can (OAEP SHA-1 only: RSA_AES_KEY_WRAP_SHA_1
 * for RSA/ECC, RSAES_OAEP_SHA_1 for symmetric/HMAC), through core's software wrap otherwise (SHA-256, and OAEP
 * of ECC private keys, which SoftHSM's OAEP cannot wrap). Each import ends by using the KMS key against the
 * HSM's (or software) copy.
 */
import { createHmac, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { findCurve } from '@byok/core';
import { EMULATOR_AWS_CREDENTIALS } from '@byok/emulators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AwsKmsTarget,
  type AwsWrappingAlgorithm,
  type CloudErrorCode,
  type CloudKeySpec,
  type HsmProof,
  type ImportPreparation,
  isCloudError,
  isImportTokenExpired,
  isPreparationExpired,
  parseTargetConfig,
  wrapInSoftware,
} from '../src/index.js';
import {
  type AwsFixture,
  awsFixture,
  generateAesKey,
  generateHmacKey,
  generateTarget,
  type Hsm,
  hsmHmac,
  hsmOaepWrapSecret,
  hsmWrap,
  softHsm,
  uniqueName,
} from './helpers.js';

let hsm: Hsm;
let aws: AwsFixture;
let raw: KMSClient;

beforeAll(async () => {
  hsm = await softHsm();
  aws = await awsFixture();
  raw = new KMSClient({
    endpoint: aws.kms.endpoint,
    region: aws.kms.region,
    credentials: EMULATOR_AWS_CREDENTIALS,
  });
});

afterAll(async () => {
  raw?.destroy();
  await aws?.close();
  await hsm?.close();
});

async function expectCode(promise: Promise<unknown>, code: CloudErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect(isCloudError(err) ? err.code : err).toBe(code);
    expect((err as Error).message).not.toContain('\n');
    return err as Error;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

async function keyState(keyId: string): Promise<string | undefined> {
  return (await raw.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;
}

/** Every key of the account (ListKeys pages, as KMS answers at most 100 by default). */
async function keyCount(): Promise<number> {
  let count = 0;
  let marker: string | undefined;
  do {
    const page = await raw.send(new ListKeysCommand(marker ? { Marker: marker } : {}));
    count += page.Keys?.length ?? 0;
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return count;
}

/** Software key material and the proof that goes with it. */
function softwareKey(spec: CloudKeySpec): { material: Buffer; proof: HsmProof } {
  switch (spec.kind) {
    case 'rsa': {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: spec.bits });
      return { material: privateKey.export({ type: 'pkcs8', format: 'der' }), proof: { publicKey } };
    }
    case 'ec': {
      const curve = findCurve(spec.curve);
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve?.nodeName ?? '' });
      return { material: privateKey.export({ type: 'pkcs8', format: 'der' }), proof: { publicKey } };
    }
    case 'aes':
      return { material: randomBytes(spec.bits / 8), proof: {} };
    case 'hmac': {
      const key = randomBytes(spec.bits / 8);
      return {
        material: key,
        proof: { hmac: (message, hash) => createHmac(hash, key).update(message).digest() },
      };
    }
  }
}

/** Material in SoftHSM, wrapped by SoftHSM. */
function hsmKey(spec: CloudKeySpec, prep: ImportPreparation): { wrapped: Buffer; proof: HsmProof } {
  if (spec.kind === 'rsa' || spec.kind === 'ec') {
    const target = generateTarget(hsm, spec);
    return {
      wrapped: hsmWrap(hsm, prep, target),
      proof: target.publicKey ? { publicKey: target.publicKey } : {},
    };
  }
  if (spec.kind === 'aes') return { wrapped: hsmOaepWrapSecret(hsm, prep, generateAesKey(hsm)), proof: {} };
  const key = generateHmacKey(hsm, spec.bits / 8);
  return {
    wrapped: hsmOaepWrapSecret(hsm, prep, key),
    proof: { hmac: (message, hash) => hsmHmac(hsm, key, hash, message) },
  };
}

function label(spec: CloudKeySpec): string {
  return spec.kind === 'ec' ? `EC ${spec.curve}` : `${spec.kind.toUpperCase()}-${spec.bits}`;
}

const EXPECTED_CHECKS: Readonly<Record<CloudKeySpec['kind'], string[]>> = {
  rsa: ['public-key-equal', 'cloud-sign-hsm-verify'],
  ec: ['public-key-equal', 'cloud-sign-hsm-verify'],
  aes: ['cloud-encrypt-decrypt'],
  hmac: ['mac-equal'],
};

interface Case {
  readonly spec: CloudKeySpec;
  readonly algorithm: AwsWrappingAlgorithm;
  readonly via: 'softhsm' | 'software';
  readonly bits?: 2048 | 3072;
}

const RSA: CloudKeySpec[] = [2048, 3072, 4096].map((bits) => ({ kind: 'rsa', bits }) as CloudKeySpec);
const EC: CloudKeySpec[] = (['P-256', 'P-384', 'P-521', 'secp256k1'] as const).map((curve) => ({
  kind: 'ec',
  curve,
}));
const HMAC: CloudKeySpec[] = ([224, 256, 384, 512] as const).map((bits) => ({ kind: 'hmac', bits }));
const AES: CloudKeySpec = { kind: 'aes', bits: 256 };

const CASES: Case[] = [
  ...RSA.flatMap((spec): Case[] => [
    { spec, algorithm: 'RSA_AES_KEY_WRAP_SHA_1', via: 'softhsm' },
    { spec, algorithm: 'RSA_AES_KEY_WRAP_SHA_256', via: 'software' },
  ]),
  ...EC.flatMap((spec): Case[] => [
    { spec, algorithm: 'RSA_AES_KEY_WRAP_SHA_1', via: 'softhsm' },
    { spec, algorithm: 'RSA_AES_KEY_WRAP_SHA_256', via: 'software' },
    // P-521 PKCS#8 does not fit RSA-OAEP under RSA_2048: KMS requires a larger wrapping key.
    {
      spec,
      algorithm: 'RSAES_OAEP_SHA_1',
      via: 'software',
      bits: spec.kind === 'ec' && spec.curve === 'P-521' ? 3072 : 2048,
    },
    {
      spec,
      algorithm: 'RSAES_OAEP_SHA_256',
      via: 'software',
      bits: spec.kind === 'ec' && spec.curve === 'P-521' ? 3072 : 2048,
    },
  ]),
  { spec: AES, algorithm: 'RSAES_OAEP_SHA_1', via: 'softhsm' },
  { spec: AES, algorithm: 'RSAES_OAEP_SHA_256', via: 'software' },
  ...HMAC.flatMap((spec): Case[] => [
    { spec, algorithm: 'RSAES_OAEP_SHA_1', via: 'softhsm' },
    { spec, algorithm: 'RSAES_OAEP_SHA_256', via: 'software' },
  ]),
];

describe('AWS KMS: every key spec with every wrapping algorithm it allows', () => {
  for (const c of CASES) {
    it(`${label(c.spec)} with ${c.algorithm} via ${c.via}`, async () => {
      const viaHsm = c.via === 'softhsm';
      const prep = await aws.target.prepareImport({
        keyName: uniqueName('k'),
        spec: c.spec,
        wrappingKeyBits: c.bits ?? 2048,
        // SoftHSM's OAEP is SHA-1 only: say so, and the default algorithm must follow.
        ...(viaHsm ? { hsmOaepHashes: ['sha1'] as const } : { wrappingAlgorithm: c.algorithm }),
      });
      expect(prep.wrap.awsAlgorithm).toBe(c.algorithm);
      expect(prep.keyId).toMatch(/^arn:aws:kms:/);
      expect(prep.created).toEqual([{ kind: 'aws-kms-key', id: prep.keyId }]);
      expect(isPreparationExpired(prep, new Date())).toBe(false);
      if (viaHsm) expect(prep.notes.join(' ')).toContain('cannot do OAEP with SHA-256');
      expect(await keyState(prep.keyId ?? '')).toBe('PendingImport');

      let wrapped: Buffer;
      let proof: HsmProof;
      if (viaHsm) {
        ({ wrapped, proof } = hsmKey(c.spec, prep));
      } else {
        const key = softwareKey(c.spec);
        wrapped = wrapInSoftware(prep, key.material);
        proof = key.proof;
      }
      const imported = await aws.target.importWrappedKey(prep, wrapped);
      expect(await keyState(imported.keyId)).toBe('Enabled');
      if (proof.publicKey) expect(imported.publicKeyPem).toBe(pem(proof.publicKey));

      const verification = await aws.target.verifyImport(imported, proof);
      expect(verification.checks.map((x) => x.id)).toEqual(EXPECTED_CHECKS[c.spec.kind]);
    });
  }
});

function pem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

describe('AWS KMS: verification can fail', () => {
  it('another public key, another HMAC key', async () => {
    const ec: CloudKeySpec = { kind: 'ec', curve: 'P-256' };
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('v'),
      spec: ec,
      wrappingKeyBits: 2048,
    });
    const imported = await aws.target.importWrappedKey(prep, wrapInSoftware(prep, softwareKey(ec).material));
    const other = softwareKey(ec).proof;
    await expectCode(aws.target.verifyImport(imported, other), 'VERIFICATION_FAILED');

    const hmac: CloudKeySpec = { kind: 'hmac', bits: 256 };
    const prepH = await aws.target.prepareImport({
      keyName: uniqueName('v'),
      spec: hmac,
      wrappingKeyBits: 2048,
    });
    const importedH = await aws.target.importWrappedKey(
      prepH,
      wrapInSoftware(prepH, softwareKey(hmac).material),
    );
    await expectCode(aws.target.verifyImport(importedH, softwareKey(hmac).proof), 'VERIFICATION_FAILED');
    await expectCode(aws.target.verifyImport(importedH, {}), 'VERIFY_PROOF_MISSING');
  });
});

describe('AWS KMS refusals: clear errors, nothing half-done', () => {
  it('an RSA key with an OAEP-only algorithm is refused before a key is created', async () => {
    const before = await keyCount();
    const err = await expectCode(
      aws.target.prepareImport({
        keyName: uniqueName('r'),
        spec: { kind: 'rsa', bits: 2048 },
        wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
      }),
      'UNSUPPORTED_WRAPPING_ALGORITHM',
    );
    expect(err.message).toContain('RSA_AES_KEY_WRAP');
    await expectCode(
      aws.target.prepareImport({
        keyName: uniqueName('s'),
        spec: AES,
        wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256',
      }),
      'UNSUPPORTED_WRAPPING_ALGORITHM',
    );
    await expectCode(
      aws.target.prepareImport({
        keyName: uniqueName('p'),
        spec: { kind: 'ec', curve: 'P-521' },
        wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
        wrappingKeyBits: 2048,
      }),
      'UNSUPPORTED_WRAPPING_ALGORITHM',
    );
    await expectCode(
      aws.target.prepareImport({ keyName: uniqueName('a'), spec: { kind: 'aes', bits: 128 } }),
      'UNSUPPORTED_KEY_SPEC',
    );
    // An HSM that can only do SHA-1 cannot take a SHA-256 algorithm.
    await expectCode(
      aws.target.prepareImport({
        keyName: uniqueName('h'),
        spec: AES,
        wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
        hsmOaepHashes: ['sha1'],
      }),
      'OAEP_HASH_UNSUPPORTED',
    );
    expect(await keyCount()).toBe(before);
  });

  it('the KMS service itself refuses OAEP for RSA material (mapped, not guessed)', async () => {
    const created = await raw.send(
      new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }),
    );
    const keyId = created.KeyMetadata?.Arn ?? '';
    // Bypass our local check to see the service's answer through the mapping.
    const target = aws.target as unknown as {
      parameters(k: string, a: AwsWrappingAlgorithm, b: number): Promise<unknown>;
    };
    await expectCode(target.parameters(keyId, 'RSAES_OAEP_SHA_256', 2048), 'UNSUPPORTED_WRAPPING_ALGORITHM');
    expect(await keyState(keyId)).toBe('PendingImport');
  });

  it('an expired import token: refused locally by the clock, by KMS otherwise; refresh, wrap again, import', async () => {
    const spec: CloudKeySpec = { kind: 'rsa', bits: 2048 };
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('exp'),
      spec,
      hsmOaepHashes: ['sha1'],
      wrappingKeyBits: 2048,
    });
    const target = generateTarget(hsm, spec);
    const wrapped = hsmWrap(hsm, prep, target);
    aws.kms.clock.advance(25 * 3600_000);
    try {
      const later = aws.kms.clock.now();
      expect(isPreparationExpired(prep, later)).toBe(true);
      const local = await expectCode(
        aws.target.importWrappedKey(prep, wrapped, { now: later }),
        'IMPORT_TOKEN_EXPIRED',
      );
      expect(isImportTokenExpired(local)).toBe(true);
      // Our clock says valid, KMS's does not: ExpiredImportTokenException, same code.
      const remote = await expectCode(aws.target.importWrappedKey(prep, wrapped), 'IMPORT_TOKEN_EXPIRED');
      expect(remote.message).toContain('ExpiredImportTokenException');
      expect(await keyState(prep.keyId ?? '')).toBe('PendingImport');

      const fresh = await aws.target.refreshPreparation(prep);
      expect(fresh.kek.fingerprint).not.toBe(prep.kek.fingerprint);
      expect(isPreparationExpired(fresh, later)).toBe(false);
      // The old wrap is under the old wrapping key: useless; wrap again.
      await expectCode(aws.target.importWrappedKey(fresh, wrapped, { now: later }), 'BLOB_REJECTED');
      const imported = await aws.target.importWrappedKey(fresh, hsmWrap(hsm, fresh, target), { now: later });
      await aws.target.verifyImport(imported, { publicKey: target.publicKey });
    } finally {
      aws.kms.clock.advance(-25 * 3600_000);
    }
  });

  it('a corrupted wrapped key is rejected and the key stays PendingImport; the right one then imports', async () => {
    const spec: CloudKeySpec = { kind: 'ec', curve: 'P-384' };
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('c'),
      spec,
      hsmOaepHashes: ['sha1'],
      wrappingKeyBits: 2048,
    });
    const target = generateTarget(hsm, spec);
    const wrapped = hsmWrap(hsm, prep, target);
    const bad = Buffer.from(wrapped);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0x80;
    await expectCode(aws.target.importWrappedKey(prep, bad), 'BLOB_REJECTED');
    expect(await keyState(prep.keyId ?? '')).toBe('PendingImport');
    const imported = await aws.target.importWrappedKey(prep, wrapped);
    await aws.target.verifyImport(imported, { publicKey: target.publicKey });
  });

  it('material already imported: refused by prepare (existing key) and by import (same preparation)', async () => {
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('twice'),
      spec: AES,
      wrappingKeyBits: 2048,
    });
    const material = randomBytes(32);
    await aws.target.importWrappedKey(prep, wrapInSoftware(prep, material));
    await expectCode(
      aws.target.prepareImport({ keyName: 'twice', spec: AES, existingKeyId: prep.keyId ?? '' }),
      'KEY_ALREADY_HAS_MATERIAL',
    );
    await expectCode(
      aws.target.importWrappedKey(prep, wrapInSoftware(prep, material)),
      'KEY_ALREADY_HAS_MATERIAL',
    );
  });

  it('deleted material goes back to PendingImport; only the same material can be reimported', async () => {
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('re'),
      spec: AES,
      wrappingKeyBits: 2048,
    });
    const material = randomBytes(32);
    await aws.target.importWrappedKey(prep, wrapInSoftware(prep, material));
    const keyId = prep.keyId ?? '';
    await aws.target.deleteImportedKeyMaterial(keyId);
    expect(await keyState(keyId)).toBe('PendingImport');
    const again = await aws.target.prepareImport({
      keyName: 're',
      spec: AES,
      existingKeyId: keyId,
      wrappingKeyBits: 2048,
    });
    expect(again.created).toEqual([]);
    await expectCode(
      aws.target.importWrappedKey(again, wrapInSoftware(again, randomBytes(32))),
      'KEY_MATERIAL_MISMATCH',
    );
    const imported = await aws.target.importWrappedKey(again, wrapInSoftware(again, material));
    await aws.target.verifyImport(imported, {});
  });

  it('an existing key of another spec or origin is refused', async () => {
    const hmacKey = await raw.send(
      new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }),
    );
    await expectCode(
      aws.target.prepareImport({ keyName: 'x', spec: AES, existingKeyId: hmacKey.KeyMetadata?.Arn ?? '' }),
      'KEY_SPEC_MISMATCH',
    );
    const kmsKey = await raw.send(new CreateKeyCommand({}));
    await expectCode(
      aws.target.prepareImport({ keyName: 'x', spec: AES, existingKeyId: kmsKey.KeyMetadata?.Arn ?? '' }),
      'KEY_NOT_EXTERNAL',
    );
    await expectCode(
      aws.target.prepareImport({
        keyName: 'x',
        spec: AES,
        existingKeyId: '00000000-0000-4000-8000-000000000000',
      }),
      'KEY_NOT_FOUND',
    );
  });

  it('expiring material: ValidTo in whole seconds, at most 365 days', async () => {
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('ttl'),
      spec: AES,
      wrappingKeyBits: 2048,
    });
    const wrapped = wrapInSoftware(prep, randomBytes(32));
    await expectCode(
      aws.target.importWrappedKey(prep, wrapped, { validTo: new Date(Date.now() + 366 * 86_400_000) }),
      'REQUEST_INVALID',
    );
    const validTo = new Date(Date.now() + 30 * 86_400_000 + 123);
    await aws.target.importWrappedKey(prep, wrapped, { validTo });
    const meta = (await raw.send(new DescribeKeyCommand({ KeyId: prep.keyId }))).KeyMetadata;
    expect(meta?.ExpirationModel).toBe('KEY_MATERIAL_EXPIRES');
    expect(meta?.ValidTo?.getTime()).toBe(Math.floor(validTo.getTime() / 1000) * 1000);
  });

  it('wrong credentials are CLOUD_AUTH_FAILED', async () => {
    const config = parseTargetConfig({
      cloud: 'aws',
      region: aws.kms.region,
      endpoint: aws.kms.endpoint,
      credentials: {
        kind: 'static',
        accessKeyId: EMULATOR_AWS_CREDENTIALS.accessKeyId,
        secretAccessKey: 'wrong',
      },
      retry: { maxAttempts: 1 },
    });
    if (config.cloud !== 'aws') throw new Error('unreachable');
    const wrong = new AwsKmsTarget(config);
    try {
      await expectCode(wrong.prepareImport({ keyName: 'x', spec: AES }), 'CLOUD_AUTH_FAILED');
    } finally {
      wrong.close();
    }
  });

  it('cleanup after a failed ceremony schedules the created key for deletion', async () => {
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('gone'),
      spec: AES,
      wrappingKeyBits: 2048,
    });
    const kept = await aws.target.cleanup(prep);
    expect(kept.kept).toEqual([prep.keyId]);
    const result = await aws.target.cleanup(prep, { deleteCreatedKey: true });
    expect(result.scheduledForDeletion.map((s) => s.id)).toEqual([prep.keyId]);
    expect(await keyState(prep.keyId ?? '')).toBe('PendingDeletion');
  });
});

describe('AWS KMS rotation of imported symmetric material', () => {
  it('imports new material with NEW_KEY_MATERIAL, then RotateKeyOnDemand', async () => {
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('rot'),
      spec: AES,
      hsmOaepHashes: ['sha1'],
      wrappingKeyBits: 2048,
    });
    const first = await aws.target.importWrappedKey(prep, hsmOaepWrapSecret(hsm, prep, generateAesKey(hsm)));
    const rotation = await aws.target.prepareRotation({
      keyId: first.keyId,
      hsmOaepHashes: ['sha1'],
      wrappingKeyBits: 2048,
    });
    expect(rotation.rotation).toBe(true);
    const second = await aws.target.importWrappedKey(
      rotation,
      hsmOaepWrapSecret(hsm, rotation, generateAesKey(hsm)),
    );
    expect(second.notes.join(' ')).toContain('rotated on demand');
    const rotations = await raw.send(
      new ListKeyRotationsCommand({ KeyId: first.keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }),
    );
    expect(rotations.Rotations?.map((r) => r.KeyMaterialState).sort()).toEqual(['CURRENT', 'NON_CURRENT']);
    await aws.target.verifyImport(second, {});
    await expectCode(
      aws.target.prepareRotation({ keyId: (await rsaSigningKeyId()) ?? '' }),
      'UNSUPPORTED_KEY_SPEC',
    );
  });
});

async function rsaSigningKeyId(): Promise<string | undefined> {
  const out = await raw.send(
    new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }),
  );
  return out.KeyMetadata?.Arn;
}

describe('AWS KMS faults: retried only where safe, the state read before repeating a write', () => {
  type Mode = 'throttle' | 'error' | 'hang' | 'lost' | 'always-error';
  function faulty(mode: Mode): AwsKmsTarget {
    let armed = true;
    return aws.withExtras({
      configureClient(client, role) {
        if (role !== 'writes') return;
        client.middlewareStack.add(
          (next, context) => async (args) => {
            if (context.commandName !== 'ImportKeyMaterialCommand' || !armed) return next(args);
            armed = mode === 'always-error';
            if (mode === 'lost') {
              const result = await next(args);
              const err = new Error('socket hang up after the request was sent');
              err.name = 'TimeoutError';
              void result;
              throw err;
            }
            aws.kms.faults.inject(mode === 'always-error' ? 'error' : mode);
            return next(args);
          },
          { step: 'initialize', name: 'armImportFault' },
        );
      },
    });
  }

  async function prepared(target: AwsKmsTarget) {
    const spec: CloudKeySpec = { kind: 'ec', curve: 'P-256' };
    const prep = await target.prepareImport({
      keyName: uniqueName('f'),
      spec,
      hsmOaepHashes: ['sha1'],
      wrappingKeyBits: 2048,
    });
    const key = generateTarget(hsm, spec);
    return { prep, key, wrapped: hsmWrap(hsm, prep, key) };
  }

  it('reads answered 500, 429 or nothing are retried by the SDK', async () => {
    const created = await raw.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
    const before = aws.kms.faults.injected;
    aws.kms.faults.inject('error');
    aws.kms.faults.inject('throttle');
    aws.kms.faults.inject('hang');
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('r'),
      spec: AES,
      existingKeyId: created.KeyMetadata?.Arn ?? '',
      wrappingKeyBits: 2048,
    });
    expect(prep.importToken).toBeTruthy();
    expect(aws.kms.faults.injected).toBe(before + 3);
  });

  it('CreateKey throttled is repeated; CreateKey without a clear answer is not, and says what to look for', async () => {
    aws.kms.faults.inject('throttle');
    const prep = await aws.target.prepareImport({
      keyName: uniqueName('t'),
      spec: AES,
      wrappingKeyBits: 2048,
    });
    expect(prep.created).toHaveLength(1);
    const before = await keyCount();
    aws.kms.faults.inject('error');
    const err = await expectCode(
      aws.target.prepareImport({ keyName: uniqueName('u'), spec: AES, wrappingKeyBits: 2048 }),
      'CLOUD_UNAVAILABLE',
    );
    expect(err.message).toMatch(/look for tag byok:request=[0-9a-f]{16}/);
    expect(await keyCount()).toBe(before);
  });

  for (const mode of ['throttle', 'error', 'hang', 'lost'] as const) {
    it(`ImportKeyMaterial ${mode}: state checked, imported exactly once`, async () => {
      const target = faulty(mode);
      const { prep, key, wrapped } = await prepared(target);
      const imported = await target.importWrappedKey(prep, wrapped);
      const notes = imported.notes.join(' ');
      if (mode === 'throttle') expect(notes).toContain('throttled');
      else if (mode === 'lost') expect(notes).toContain('the state shows it succeeded');
      else expect(notes).toContain('nothing was done');
      await target.verifyImport(imported, { publicKey: key.publicKey });
    });
  }

  it('KMS failing on every import: CLOUD_UNAVAILABLE, retryable, key still PendingImport', async () => {
    const target = faulty('always-error');
    const { prep, wrapped } = await prepared(target);
    const err = await expectCode(target.importWrappedKey(prep, wrapped), 'CLOUD_UNAVAILABLE');
    expect(isCloudError(err) && err.retryable).toBe(true);
    expect(await keyState(prep.keyId ?? '')).toBe('PendingImport');
    aws.kms.faults.clear();
  });
});

describe('AWS KMS aliases and repeated prepareImport (the ceremony worker after a crash)', () => {
  const owner = () => ({ tagKey: 'byok-ceremony', tagValue: uniqueName('ceremony') });
  const alias = () => `alias/${uniqueName('cmk')}`;

  async function aliasTarget(name: string): Promise<string | undefined> {
    try {
      return (await raw.send(new DescribeKeyCommand({ KeyId: name }))).KeyMetadata?.Arn;
    } catch (err) {
      if ((err as Error).name === 'NotFoundException') return undefined;
      throw err;
    }
  }

  /** A first attempt that dies right after CreateKey answered: the key exists, no alias, no parameters. */
  async function crashAfterCreateKey(request: Parameters<AwsKmsTarget['prepareImport']>[0]): Promise<string> {
    let createdId = '';
    await expect(
      aws.target.prepareImport(request, {
        onCreated: (keyId) => {
          createdId = keyId;
          throw new Error('worker killed');
        },
      }),
    ).rejects.toThrow(/left in place/);
    expect(await keyState(createdId)).toBe('PendingImport');
    return createdId;
  }

  it('the new key gets the alias; preparation, import and verification name it; onCreated hears the key once', async () => {
    const name = alias();
    const o = owner();
    const heard: string[] = [];
    const prep = await aws.target.prepareImport(
      { keyName: 'k', spec: AES, wrappingKeyBits: 2048, alias: name, owner: o },
      { onCreated: (keyId) => void heard.push(keyId) },
    );
    expect(heard).toEqual([prep.keyId]);
    expect(prep.alias).toBe(name);
    expect(prep.created).toEqual([
      { kind: 'aws-kms-key', id: prep.keyId },
      { kind: 'aws-kms-alias', id: name },
    ]);
    expect(await aliasTarget(name)).toBe(prep.keyId);
    const tags = await raw.send(new ListResourceTagsCommand({ KeyId: prep.keyId }));
    expect(tags.Tags).toContainEqual({ TagKey: o.tagKey, TagValue: o.tagValue });
    const imported = await aws.target.importWrappedKey(prep, wrapInSoftware(prep, randomBytes(32)));
    expect(imported.alias).toBe(name);
    const verification = await aws.target.verifyImport(imported, {});
    expect(verification.checks.map((c) => c.id)).toEqual(['cloud-encrypt-decrypt', 'alias-resolves']);
    expect(verification.checks[1]?.detail).toContain(name);
    // An alias that names another key fails verification.
    await expectCode(aws.target.verifyImport({ ...imported, alias: alias() }, {}), 'VERIFICATION_FAILED');
    // The success path keeps both (cleanup without deleteCreatedKey).
    expect((await aws.target.cleanup(prep)).kept).toEqual([name, prep.keyId]);
    expect(await aliasTarget(name)).toBe(prep.keyId);
  });

  it('an alias naming a key that is not the owner’s: preflight and prepareImport refuse it, nothing created', async () => {
    const name = alias();
    const foreign = await raw.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'someone else' }));
    await raw.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: foreign.KeyMetadata?.KeyId }));
    const before = await keyCount();
    const request = { keyName: 'k', spec: AES, wrappingKeyBits: 2048 as const, alias: name, owner: owner() };
    const refused = await expectCode(aws.target.preflight(request), 'ALIAS_IN_USE');
    expect(refused.message).toContain(`${name} already names ${foreign.KeyMetadata?.Arn}`);
    expect(refused.message).toContain('nothing was created');
    await expectCode(aws.target.prepareImport(request), 'ALIAS_IN_USE');
    // Without an owner any existing alias is someone else's.
    await expectCode(aws.target.prepareImport({ ...request, owner: undefined }), 'ALIAS_IN_USE');
    expect(await keyCount()).toBe(before);
    expect(await aliasTarget(name)).toBe(foreign.KeyMetadata?.Arn);

    const free = await aws.target.preflight({ ...request, alias: alias() });
    expect(free.notes.join(' ')).toMatch(/alias\/cmk-\S+ is free/);
    for (const bad of ['cmk', 'alias/aws/ebs', 'alias/has space']) {
      await expectCode(aws.target.preflight({ ...request, alias: bad }), 'REQUEST_INVALID');
      await expectCode(aws.target.prepareImport({ ...request, alias: bad }), 'REQUEST_INVALID');
    }
    await expectCode(
      aws.target.prepareImport({ ...request, existingKeyId: foreign.KeyMetadata?.Arn ?? '' }),
      'REQUEST_INVALID',
    );
    expect(await keyCount()).toBe(before);
  });

  it('an alias taken between the check and CreateAlias: ALIAS_IN_USE naming the key left behind', async () => {
    const name = alias();
    const foreign = await raw.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
    const racy = aws.withExtras({
      configureClient(client, role) {
        if (role !== 'writes') return;
        client.middlewareStack.add(
          (next, context) => async (args) => {
            if (context.commandName === 'CreateAliasCommand') {
              await raw.send(
                new CreateAliasCommand({ AliasName: name, TargetKeyId: foreign.KeyMetadata?.KeyId }),
              );
            }
            return next(args);
          },
          { step: 'initialize', name: 'takeAliasFirst' },
        );
      },
    });
    const err = await expectCode(
      racy.prepareImport({ keyName: 'k', spec: AES, wrappingKeyBits: 2048, alias: name, owner: owner() }),
      'ALIAS_IN_USE',
    );
    expect(err.message).toMatch(/CreateAlias alias\/cmk-\S+ failed: the alias already exists/);
    expect(err.message).toMatch(/created arn:aws:kms:\S+ was left in place/);
    expect(await aliasTarget(name)).toBe(foreign.KeyMetadata?.Arn);
  });

  it('a retry after a crash right after CreateKey reuses that key: by the recorded id, by its tag, by its alias', async () => {
    const spec: CloudKeySpec = { kind: 'ec', curve: 'P-256' };
    const base = { keyName: 'k', spec, hsmOaepHashes: ['sha1'] as const, wrappingKeyBits: 2048 as const };

    // Recorded id (the heartbeat details): no search needed, no new key, the alias is made now.
    const o1 = owner();
    const name1 = alias();
    const first = await crashAfterCreateKey({ ...base, alias: name1, owner: o1 });
    let before = await keyCount();
    const heard: string[] = [];
    const retried = await aws.target.prepareImport(
      { ...base, alias: name1, owner: { ...o1, knownKeyId: first } },
      { onCreated: (id) => void heard.push(id) },
    );
    expect(retried.keyId).toBe(first);
    expect(heard).toEqual([]);
    expect(await keyCount()).toBe(before);
    expect(await aliasTarget(name1)).toBe(first);
    expect(retried.notes.join(' ')).toContain('found by the key id an earlier attempt recorded');
    expect(retried.created).toEqual([
      { kind: 'aws-kms-key', id: first },
      { kind: 'aws-kms-alias', id: name1 },
    ]);

    // Nothing recorded (killed before the heartbeat left): found by the owner's tag.
    const o2 = owner();
    const name2 = alias();
    const second = await crashAfterCreateKey({ ...base, alias: name2, owner: o2 });
    before = await keyCount();
    const searched = await aws.target.prepareImport({
      ...base,
      alias: name2,
      owner: { ...o2, search: true },
    });
    expect(searched.keyId).toBe(second);
    expect(await keyCount()).toBe(before);
    expect(searched.notes.join(' ')).toContain(`found by its tag byok-ceremony=${o2.tagValue}`);

    // After the alias was made: the alias alone finds it (a first-attempt call would too).
    const again = await aws.target.prepareImport({ ...base, alias: name2, owner: o2 });
    expect(again.keyId).toBe(second);
    expect(again.notes.join(' ')).toContain(`found by its alias ${name2}`);
    expect(await keyCount()).toBe(before);
    // The latest parameters are the ones to use: import and verify through the HSM.
    const target = generateTarget(hsm, spec);
    const imported = await aws.target.importWrappedKey(again, hsmWrap(hsm, again, target));
    const verification = await aws.target.verifyImport(imported, { publicKey: target.publicKey });
    expect(verification.checks.map((c) => c.id)).toEqual([
      'public-key-equal',
      'cloud-sign-hsm-verify',
      'alias-resolves',
    ]);
    // Imported now: the same ceremony cannot prepare again under that alias.
    await expectCode(aws.target.prepareImport({ ...base, alias: name2, owner: o2 }), 'ALIAS_IN_USE');
    // Another owner's key under a recorded id is not adopted.
    const o3 = owner();
    const stranger = await aws.target.prepareImport({ ...base, owner: { ...o3, knownKeyId: first } });
    expect(stranger.keyId).not.toBe(first);
    expect(stranger.notes.join(' ')).toContain(`recorded key ${first} is gone or not tagged`);
  });

  it('two unrecorded crashes left two keys: the retry keeps the oldest and schedules deletion of the other', async () => {
    const o = owner();
    const name = alias();
    const request = { keyName: 'k', spec: AES, wrappingKeyBits: 2048 as const, alias: name, owner: o };
    const oldest = await crashAfterCreateKey(request);
    const extra = await crashAfterCreateKey(request); // no search: a second key
    expect(extra).not.toBe(oldest);
    const prep = await aws.target.prepareImport({ ...request, owner: { ...o, search: true } });
    expect(prep.keyId).toBe(oldest);
    expect(await keyState(extra)).toBe('PendingDeletion');
    expect(prep.notes.join(' ')).toContain(`${extra}: an extra key`);
    const owned = await aws.target.findOwnedKeys(o);
    expect(owned.map((m) => [m.Arn, m.KeyState])).toEqual([
      [oldest, 'PendingImport'],
      [extra, 'PendingDeletion'],
    ]);
  });

  it('compensation removes the alias and schedules deletion of the key, twice safely, touching nothing else', async () => {
    const o = owner();
    const name = alias();
    const prep = await aws.target.prepareImport({
      keyName: 'k',
      spec: AES,
      wrappingKeyBits: 2048,
      alias: name,
      owner: o,
    });
    const done = await aws.target.cleanup(prep, { deleteCreatedKey: true });
    expect(done.deleted).toEqual([name]);
    expect(done.scheduledForDeletion.map((s) => s.id)).toEqual([prep.keyId]);
    expect(await aliasTarget(name)).toBeUndefined();
    expect(await keyState(prep.keyId ?? '')).toBe('PendingDeletion');
    // A repeated compensation (the worker died before recording it) finds it done.
    const again = await aws.target.cleanup(prep, { deleteCreatedKey: true });
    expect(again.deleted).toEqual([]);
    expect(again.notes).toContain(`${name} was already gone`);
    expect(again.scheduledForDeletion).toEqual(done.scheduledForDeletion);

    // The alias was moved to someone else's key meanwhile: it stays.
    const moved = alias();
    const prep2 = await aws.target.prepareImport({
      keyName: 'k',
      spec: AES,
      wrappingKeyBits: 2048,
      alias: moved,
      owner: owner(),
    });
    const foreign = await raw.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
    await raw.send(new UpdateAliasCommand({ AliasName: moved, TargetKeyId: foreign.KeyMetadata?.KeyId }));
    const partial = await aws.target.cleanup(prep2, { deleteCreatedKey: true });
    expect(partial.deleted).toEqual([]);
    expect(partial.notes.join(' ')).toContain(`${moved} now names a key this run did not create`);
    expect(await aliasTarget(moved)).toBe(foreign.KeyMetadata?.Arn);
    expect(await keyState(foreign.KeyMetadata?.Arn ?? '')).toBe('PendingImport');
  });

  it('discardOwned (no preparation came back) finds the owner’s key by alias and tag; keys with material and other owners’ are left', async () => {
    const o = owner();
    const name = alias();
    await crashAfterCreateKey({ keyName: 'k', spec: AES, wrappingKeyBits: 2048, alias: name, owner: o });
    const prep = await aws.target.prepareImport({
      keyName: 'k',
      spec: AES,
      wrappingKeyBits: 2048,
      alias: name,
      owner: { ...o, search: true },
    });
    const result = await aws.target.discardOwned({ alias: name, owner: o });
    expect(result.deleted).toEqual([name]);
    expect(result.scheduledForDeletion.map((s) => s.id)).toEqual([prep.keyId]);
    expect(await keyState(prep.keyId ?? '')).toBe('PendingDeletion');
    expect(await aliasTarget(name)).toBeUndefined();

    // An alias of another key, and an owner's key that holds material, are not touched.
    const other = alias();
    const foreign = await raw.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
    await raw.send(new CreateAliasCommand({ AliasName: other, TargetKeyId: foreign.KeyMetadata?.KeyId }));
    const o2 = owner();
    const used = await aws.target.prepareImport({
      keyName: 'k',
      spec: AES,
      wrappingKeyBits: 2048,
      owner: o2,
    });
    await aws.target.importWrappedKey(used, wrapInSoftware(used, randomBytes(32)));
    const left = await aws.target.discardOwned({ alias: other, owner: o2 });
    expect(left).toMatchObject({ deleted: [], scheduledForDeletion: [], kept: [used.keyId] });
    expect(left.notes.join(' ')).toContain(`${other} names a key not tagged`);
    expect(await aliasTarget(other)).toBe(foreign.KeyMetadata?.Arn);
    expect(await keyState(used.keyId ?? '')).toBe('Enabled');
    const nothing = await aws.target.discardOwned({ owner: owner() });
    expect(nothing.notes.join(' ')).toContain('nothing to discard');
  });
});
