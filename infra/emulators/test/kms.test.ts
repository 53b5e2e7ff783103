import {
  constants,
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  publicEncrypt,
  randomBytes,
  verify,
} from 'node:crypto';
import {
  type AlgorithmSpec,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  type KeySpec,
  type KeyUsageType,
  KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  type MacAlgorithmSpec,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  VerifyCommand,
  VerifyMacCommand,
  type WrappingKeySpec,
} from '@aws-sdk/client-kms';
import { rsaAesKeyWrap, toPkcs8Der } from '@byok/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_AWS_CREDENTIALS, type KmsEmulator, startKmsEmulator } from '../src/index.js';
import { tempDir } from './helpers.js';

const HOUR = 3600_000;

function kmsClient(emu: KmsEmulator, credentials = EMULATOR_AWS_CREDENTIALS): KMSClient {
  return new KMSClient({ endpoint: emu.endpoint, region: emu.region, credentials, maxAttempts: 4 });
}

/** What a ceremony does: encrypt the material under the wrapping public key with the chosen algorithm. */
function wrap(publicKeyDer: Uint8Array, algorithm: AlgorithmSpec, material: Buffer): Buffer {
  const pub = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
  const oaepHash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  if (algorithm.startsWith('RSAES_OAEP_'))
    return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, material);
  return rsaAesKeyWrap(pub, material, { oaepHash });
}

interface Target {
  material: Buffer;
  publicKey?: KeyObject;
}

function target(spec: KeySpec): Target {
  if (spec === 'SYMMETRIC_DEFAULT') return { material: randomBytes(32) };
  const hmac: Partial<Record<KeySpec, number>> = { HMAC_224: 28, HMAC_256: 32, HMAC_384: 48, HMAC_512: 64 };
  const h = hmac[spec];
  if (h !== undefined) return { material: randomBytes(h) };
  const curves: Partial<Record<KeySpec, string>> = {
    ECC_NIST_P256: 'prime256v1',
    ECC_NIST_P384: 'secp384r1',
    ECC_NIST_P521: 'secp521r1',
    ECC_SECG_P256K1: 'secp256k1',
  };
  const curve = curves[spec];
  const pair = curve
    ? generateKeyPairSync('ec', { namedCurve: curve })
    : generateKeyPairSync('rsa', { modulusLength: Number(spec.slice(4)) });
  return { material: toPkcs8Der(pair.privateKey), publicKey: pair.publicKey };
}

const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

describe('KMS emulator with @aws-sdk/client-kms', () => {
  const dir = tempDir('kms');
  let emu: KmsEmulator;
  let kms: KMSClient;

  beforeAll(async () => {
    emu = await startKmsEmulator({ stateDir: dir.path });
    kms = kmsClient(emu);
  });

  afterAll(async () => {
    kms?.destroy();
    await emu?.close();
    dir.remove();
  });

  async function externalKey(spec: KeySpec, usage: KeyUsageType): Promise<string> {
    const created = await kms.send(
      new CreateKeyCommand({
        Origin: 'EXTERNAL',
        KeySpec: spec,
        KeyUsage: usage,
        Description: `test ${spec}`,
      }),
    );
    expect(created.KeyMetadata?.KeyState).toBe('PendingImport');
    expect(created.KeyMetadata?.Origin).toBe('EXTERNAL');
    return created.KeyMetadata?.KeyId ?? '';
  }

  async function importInto(
    keyId: string,
    algorithm: AlgorithmSpec,
    wrappingKeySpec: WrappingKeySpec,
    material: Buffer,
    extra: Partial<ConstructorParameters<typeof ImportKeyMaterialCommand>[0]> = {},
  ) {
    const params = await kms.send(
      new GetParametersForImportCommand({
        KeyId: keyId,
        WrappingAlgorithm: algorithm,
        WrappingKeySpec: wrappingKeySpec,
      }),
    );
    expect(params.ParametersValidTo?.getTime()).toBeGreaterThan(emu.clock.now().getTime() + 23 * HOUR);
    return kms.send(
      new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: params.ImportToken,
        EncryptedKeyMaterial: wrap(params.PublicKey ?? new Uint8Array(), algorithm, material),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
        ...extra,
      }),
    );
  }

  const message = Buffer.from('ceremony 7: approved by 3 of 5');

  const cases: [KeySpec, KeyUsageType, AlgorithmSpec[]][] = [
    ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']],
    ['HMAC_224', 'GENERATE_VERIFY_MAC', ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']],
    ['HMAC_256', 'GENERATE_VERIFY_MAC', ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']],
    ['HMAC_384', 'GENERATE_VERIFY_MAC', ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']],
    ['HMAC_512', 'GENERATE_VERIFY_MAC', ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']],
    ['RSA_2048', 'SIGN_VERIFY', ['RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256']],
    ['RSA_3072', 'SIGN_VERIFY', ['RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256']],
    ['RSA_4096', 'SIGN_VERIFY', ['RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256']],
    ['RSA_2048', 'ENCRYPT_DECRYPT', ['RSA_AES_KEY_WRAP_SHA_256']],
    [
      'ECC_NIST_P256',
      'SIGN_VERIFY',
      ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'],
    ],
    [
      'ECC_NIST_P384',
      'SIGN_VERIFY',
      ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'],
    ],
    [
      'ECC_NIST_P521',
      'SIGN_VERIFY',
      ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'],
    ],
    [
      'ECC_SECG_P256K1',
      'SIGN_VERIFY',
      ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'],
    ],
  ];

  for (const [spec, usage, algorithms] of cases) {
    for (const algorithm of algorithms) {
      it(`imports ${spec} (${usage}) wrapped with ${algorithm} and uses it`, async () => {
        const keyId = await externalKey(spec, usage);
        const t = target(spec);
        // P-521's PKCS#8 does not fit RSA-OAEP under a 2048-bit wrapping key; RSA-4096 targets use the biggest.
        const wrappingKeySpec: WrappingKeySpec =
          spec === 'ECC_NIST_P521' ? 'RSA_3072' : spec === 'RSA_4096' ? 'RSA_4096' : 'RSA_2048';
        const imported = await importInto(keyId, algorithm, wrappingKeySpec, t.material);
        expect(imported.KeyMaterialId).toMatch(/^[0-9a-f]{64}$/);
        const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
        expect(described.KeyMetadata?.KeyState).toBe('Enabled');
        expect(described.KeyMetadata?.ExpirationModel).toBe('KEY_MATERIAL_DOES_NOT_EXPIRE');

        if (spec === 'SYMMETRIC_DEFAULT') {
          const ct = await kms.send(
            new EncryptCommand({ KeyId: keyId, Plaintext: message, EncryptionContext: { ceremony: '7' } }),
          );
          const pt = await kms.send(
            new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob, EncryptionContext: { ceremony: '7' } }),
          );
          expect(Buffer.from(pt.Plaintext ?? []).equals(message)).toBe(true);
          await expect(
            kms.send(
              new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob, EncryptionContext: { ceremony: '8' } }),
            ),
          ).rejects.toMatchObject({
            name: 'InvalidCiphertextException',
          });
        } else if (spec.startsWith('HMAC_')) {
          const algo = `HMAC_SHA_${spec.slice(5)}` as MacAlgorithmSpec;
          const mac = await kms.send(
            new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: algo }),
          );
          const expected = createHmac(`sha${spec.slice(5)}`, t.material)
            .update(message)
            .digest();
          expect(Buffer.from(mac.Mac ?? []).equals(expected)).toBe(true);
          const ok = await kms.send(
            new VerifyMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: algo, Mac: expected }),
          );
          expect(ok.MacValid).toBe(true);
          await expect(
            kms.send(
              new VerifyMacCommand({
                KeyId: keyId,
                Message: Buffer.from('x'),
                MacAlgorithm: algo,
                Mac: expected,
              }),
            ),
          ).rejects.toMatchObject({
            name: 'KMSInvalidMacException',
          });
        } else {
          const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
          const expectedSpki = t.publicKey?.export({ format: 'der', type: 'spki' });
          expect(Buffer.from(pub.PublicKey ?? []).equals(expectedSpki ?? Buffer.alloc(0))).toBe(true);
          if (usage === 'ENCRYPT_DECRYPT') {
            const ct = publicEncrypt(
              { key: t.publicKey ?? '', padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
              message,
            );
            const pt = await kms.send(
              new DecryptCommand({
                KeyId: keyId,
                CiphertextBlob: ct,
                EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
              }),
            );
            expect(Buffer.from(pt.Plaintext ?? []).equals(message)).toBe(true);
          } else if (spec.startsWith('RSA_')) {
            const pss = await kms.send(
              new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: 'RSASSA_PSS_SHA_256' }),
            );
            const pssKey = {
              key: t.publicKey as KeyObject,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: 32,
            };
            expect(verify('sha256', message, pssKey, Buffer.from(pss.Signature ?? []))).toBe(true);
            const pkcs = await kms.send(
              new SignCommand({
                KeyId: keyId,
                Message: message,
                SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_384',
              }),
            );
            expect(verify('sha384', message, t.publicKey ?? '', Buffer.from(pkcs.Signature ?? []))).toBe(
              true,
            );
            expect(
              verify('sha384', Buffer.from('x'), t.publicKey ?? '', Buffer.from(pkcs.Signature ?? [])),
            ).toBe(false);
          } else {
            const alg =
              spec === 'ECC_NIST_P384'
                ? 'ECDSA_SHA_384'
                : spec === 'ECC_NIST_P521'
                  ? 'ECDSA_SHA_512'
                  : 'ECDSA_SHA_256';
            const sig = await kms.send(
              new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: alg }),
            );
            const hash = `sha${alg.slice(-3)}`;
            // KMS signatures are DER (node:crypto's default encoding).
            expect(verify(hash, message, t.publicKey ?? '', Buffer.from(sig.Signature ?? []))).toBe(true);
            const v = await kms.send(
              new VerifyCommand({
                KeyId: keyId,
                Message: message,
                Signature: sig.Signature,
                SigningAlgorithm: alg,
              }),
            );
            expect(v.SignatureValid).toBe(true);
            await expect(
              kms.send(
                new VerifyCommand({
                  KeyId: keyId,
                  Message: Buffer.from('x'),
                  Signature: sig.Signature,
                  SigningAlgorithm: alg,
                }),
              ),
            ).rejects.toMatchObject({
              name: 'KMSInvalidSignatureException',
            });
          }
        }
      });
    }
  }

  it('refuses RSA key material with an OAEP-only algorithm, and RSAES_PKCS1_V1_5 for anything', async () => {
    const keyId = await externalKey('RSA_2048', 'SIGN_VERIFY');
    for (const alg of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSAES_PKCS1_V1_5'] as const) {
      await expect(
        kms.send(
          new GetParametersForImportCommand({
            KeyId: keyId,
            WrappingAlgorithm: alg,
            WrappingKeySpec: 'RSA_2048',
          }),
        ),
      ).rejects.toMatchObject({
        name: 'ValidationException',
      });
    }
    const sym = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    await expect(
      kms.send(
        new GetParametersForImportCommand({
          KeyId: sym,
          WrappingAlgorithm: 'RSAES_PKCS1_V1_5',
          WrappingKeySpec: 'RSA_2048',
        }),
      ),
    ).rejects.toThrow(/RSAES_PKCS1_V1_5/);
  });

  it('expires import tokens after 24 hours of (emulated) time', async () => {
    const keyId = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    const params = await kms.send(
      new GetParametersForImportCommand({
        KeyId: keyId,
        WrappingAlgorithm: 'RSAES_OAEP_SHA_256',
        WrappingKeySpec: 'RSA_2048',
      }),
    );
    emu.clock.advance(25 * HOUR);
    const err = kms.send(
      new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: params.ImportToken,
        EncryptedKeyMaterial: wrap(
          params.PublicKey ?? new Uint8Array(),
          'RSAES_OAEP_SHA_256',
          randomBytes(32),
        ),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      }),
    );
    await expect(err).rejects.toMatchObject({ name: 'ExpiredImportTokenException' });
    // A fresh token works at the new time.
    await importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', randomBytes(32));
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe('Enabled');
  });

  it('rejects an import token issued for another key', async () => {
    const a = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    const b = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    const params = await kms.send(
      new GetParametersForImportCommand({
        KeyId: a,
        WrappingAlgorithm: 'RSAES_OAEP_SHA_1',
        WrappingKeySpec: 'RSA_2048',
      }),
    );
    const err = kms.send(
      new ImportKeyMaterialCommand({
        KeyId: b,
        ImportToken: params.ImportToken,
        EncryptedKeyMaterial: wrap(params.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_1', randomBytes(32)),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      }),
    );
    await expect(err).rejects.toMatchObject({ name: 'InvalidImportTokenException' });
  });

  it('refuses different material once material was imported, accepts the same again', async () => {
    const keyId = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    const material = randomBytes(32);
    const first = await importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', material);
    await expect(importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', randomBytes(32))).rejects.toMatchObject({
      name: 'IncorrectKeyMaterialException',
    });
    const again = await importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', material);
    expect(again.KeyMaterialId).toBe(first.KeyMaterialId);
  });

  it('enforces ExpirationModel/ValidTo and expires the material at ValidTo', async () => {
    const keyId = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    const material = randomBytes(32);
    await expect(
      importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', material, {
        ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      }),
    ).rejects.toMatchObject({
      name: 'ValidationException',
    });
    const tooLate = wholeSeconds(emu.clock.now().getTime() + 366 * 24 * HOUR);
    await expect(
      importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', material, {
        ExpirationModel: 'KEY_MATERIAL_EXPIRES',
        ValidTo: tooLate,
      }),
    ).rejects.toMatchObject({
      name: 'ValidationException',
    });
    const validTo = wholeSeconds(emu.clock.now().getTime() + 2 * HOUR);
    await importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', material, {
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      ValidTo: validTo,
    });
    const meta = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
    expect(meta?.ExpirationModel).toBe('KEY_MATERIAL_EXPIRES');
    expect(meta?.ValidTo?.getTime()).toBe(validTo.getTime());
    const ct = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: message }));
    emu.clock.advance(3 * HOUR);
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe(
      'PendingImport',
    );
    await expect(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: message }))).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
    });
    await importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', material);
    const pt = await kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob }));
    expect(Buffer.from(pt.Plaintext ?? []).equals(message)).toBe(true);
  });

  it('DeleteImportedKeyMaterial puts the key back in PendingImport', async () => {
    const keyId = await externalKey('ECC_NIST_P256', 'SIGN_VERIFY');
    await importInto(keyId, 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_2048', target('ECC_NIST_P256').material);
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe(
      'PendingImport',
    );
    await expect(
      kms.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' })),
    ).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
    });
  });

  it('rotates an imported symmetric key on demand only after new key material was imported', async () => {
    const keyId = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    const first = await importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', randomBytes(32));
    const old = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: message }));
    await expect(kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
    });
    const second = await importInto(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', randomBytes(32), {
      ImportType: 'NEW_KEY_MATERIAL',
    });
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId).toBe(
      first.KeyMaterialId,
    );
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId).toBe(
      second.KeyMaterialId,
    );
    const oldPt = await kms.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob }));
    expect(Buffer.from(oldPt.Plaintext ?? []).equals(message)).toBe(true);
    const fresh = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: message }));
    const freshPt = await kms.send(new DecryptCommand({ CiphertextBlob: fresh.CiphertextBlob }));
    expect(freshPt.KeyMaterialId).toBe(second.KeyMaterialId);
  });

  it('aliases: CreateAlias, DescribeKey and Encrypt by alias name or ARN, ListAliases, UpdateAlias, DeleteAlias', async () => {
    const keyId = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    const arn = `arn:aws:kms:${emu.region}:111122223333:key/${keyId}`;
    const name = `alias/test-${randomBytes(4).toString('hex')}`;
    const aliasArn = `arn:aws:kms:${emu.region}:111122223333:${name}`;
    // Unknown before it is created, with KMS's message naming the alias ARN.
    await expect(kms.send(new DescribeKeyCommand({ KeyId: name }))).rejects.toMatchObject({
      name: 'NotFoundException',
      message: `Alias ${aliasArn} is not found.`,
    });
    await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: arn }));
    for (const id of [name, aliasArn]) {
      const meta = (await kms.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata;
      expect(meta).toMatchObject({ KeyId: keyId, Arn: arn, KeyState: 'PendingImport' });
    }
    // Taken: AlreadyExistsException, whichever key it would name.
    const other = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    await expect(
      kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: other })),
    ).rejects.toMatchObject({ name: 'AlreadyExistsException', message: expect.stringContaining(aliasArn) });
    // Import material through the key id, use it through the alias.
    await importInto(keyId, 'RSAES_OAEP_SHA_1', 'RSA_2048', randomBytes(32));
    const ct = await kms.send(new EncryptCommand({ KeyId: name, Plaintext: message }));
    expect(ct.KeyId).toBe(arn);
    const pt = await kms.send(new DecryptCommand({ KeyId: aliasArn, CiphertextBlob: ct.CiphertextBlob }));
    expect(Buffer.from(pt.Plaintext ?? []).equals(message)).toBe(true);

    const listed = await kms.send(new ListAliasesCommand({ KeyId: keyId }));
    expect(listed.Aliases).toEqual([
      {
        AliasName: name,
        AliasArn: aliasArn,
        TargetKeyId: keyId,
        CreationDate: expect.any(Date),
        LastUpdatedDate: expect.any(Date),
      },
    ]);
    expect((await kms.send(new ListAliasesCommand({ KeyId: other }))).Aliases).toEqual([]);
    const all = (await kms.send(new ListAliasesCommand({}))).Aliases ?? [];
    expect(all.map((a) => a.AliasName)).toContain(name);

    // UpdateAlias moves it (same spec and usage only); the old key keeps its own id.
    await kms.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: other }));
    expect((await kms.send(new DescribeKeyCommand({ KeyId: name }))).KeyMetadata?.KeyId).toBe(other);
    const hmac = await externalKey('HMAC_256', 'GENERATE_VERIFY_MAC');
    await expect(
      kms.send(new UpdateAliasCommand({ AliasName: name, TargetKeyId: hmac })),
    ).rejects.toMatchObject({ name: 'ValidationException' });

    await kms.send(new DeleteAliasCommand({ AliasName: name }));
    await expect(kms.send(new DescribeKeyCommand({ KeyId: name }))).rejects.toMatchObject({
      name: 'NotFoundException',
    });
    await expect(kms.send(new DeleteAliasCommand({ AliasName: name }))).rejects.toMatchObject({
      name: 'NotFoundException',
      message: `Alias ${aliasArn} is not found.`,
    });
    // The key itself is untouched.
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe('Enabled');
  });

  it('alias errors: bad names, reserved alias/aws/, unknown or deleted targets, aliases where only key ids go', async () => {
    const keyId = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    for (const bad of ['no-prefix', 'alias/has space', 'alias/aws/ebs']) {
      await expect(
        kms.send(new CreateAliasCommand({ AliasName: bad, TargetKeyId: keyId })),
      ).rejects.toMatchObject({ name: 'InvalidAliasNameException' });
    }
    await expect(
      kms.send(
        new CreateAliasCommand({
          AliasName: 'alias/x-missing',
          TargetKeyId: '00000000-0000-4000-8000-000000000000',
        }),
      ),
    ).rejects.toMatchObject({ name: 'NotFoundException' });
    const name = `alias/target-${randomBytes(4).toString('hex')}`;
    await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: keyId }));
    // An alias cannot be the target of another alias, nor name the key of an import or a deletion.
    await expect(
      kms.send(new CreateAliasCommand({ AliasName: `${name}-2`, TargetKeyId: name })),
    ).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(
      kms.send(
        new GetParametersForImportCommand({
          KeyId: name,
          WrappingAlgorithm: 'RSAES_OAEP_SHA_1',
          WrappingKeySpec: 'RSA_2048',
        }),
      ),
    ).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(kms.send(new ScheduleKeyDeletionCommand({ KeyId: name }))).rejects.toMatchObject({
      name: 'NotFoundException',
    });
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    // A key pending deletion takes no new alias; its existing alias still resolves until it is deleted.
    await expect(
      kms.send(new CreateAliasCommand({ AliasName: `${name}-late`, TargetKeyId: keyId })),
    ).rejects.toMatchObject({ name: 'KMSInvalidStateException' });
    expect((await kms.send(new DescribeKeyCommand({ KeyId: name }))).KeyMetadata?.KeyState).toBe(
      'PendingDeletion',
    );
    await expect(kms.send(new ListAliasesCommand({ Limit: 0 }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    await expect(kms.send(new ListAliasesCommand({ Marker: 'bogus' }))).rejects.toMatchObject({
      name: 'InvalidMarkerException',
    });
  });

  it('tags: CreateKey Tags, ListResourceTags (paged), TagResource / UntagResource, TagException', async () => {
    const tags = Array.from({ length: 5 }, (_, i) => ({ TagKey: `k${i}`, TagValue: `v${i}` }));
    const created = await kms.send(
      new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'tagged', Tags: tags }),
    );
    const keyId = created.KeyMetadata?.KeyId ?? '';
    expect((await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags).toEqual(tags);
    const first = await kms.send(new ListResourceTagsCommand({ KeyId: created.KeyMetadata?.Arn, Limit: 3 }));
    expect(first).toMatchObject({ Tags: tags.slice(0, 3), Truncated: true });
    const second = await kms.send(
      new ListResourceTagsCommand({ KeyId: keyId, Limit: 3, Marker: first.NextMarker }),
    );
    expect(second).toMatchObject({ Tags: tags.slice(3), Truncated: false });
    expect(second.NextMarker).toBeUndefined();

    await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'k0', TagValue: 'new' }] }));
    await kms.send(new UntagResourceCommand({ KeyId: keyId, TagKeys: ['k1', 'k2'] }));
    expect((await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags).toEqual([
      { TagKey: 'k0', TagValue: 'new' },
      { TagKey: 'k3', TagValue: 'v3' },
      { TagKey: 'k4', TagValue: 'v4' },
    ]);
    const before = (await kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys?.length ?? 0;
    for (const bad of [
      [{ TagKey: 'aws:reserved', TagValue: 'x' }],
      [
        { TagKey: 'twice', TagValue: 'a' },
        { TagKey: 'twice', TagValue: 'b' },
      ],
      [{ TagKey: '', TagValue: 'x' }],
    ]) {
      await expect(kms.send(new CreateKeyCommand({ Tags: bad }))).rejects.toMatchObject({
        name: 'TagException',
      });
    }
    // A refused CreateKey created nothing.
    expect((await kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys?.length).toBe(before);
    // Tags are for keys (by id or ARN), not aliases.
    await expect(kms.send(new ListResourceTagsCommand({ KeyId: 'alias/whatever' }))).rejects.toMatchObject({
      name: 'NotFoundException',
    });
  });

  it('ListKeys pages with Limit and Marker, every key exactly once', async () => {
    for (let i = 0; i < 3; i++) await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    const everything = (await kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys?.map((k) => k.KeyId);
    const paged: (string | undefined)[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const out = await kms.send(new ListKeysCommand({ Limit: 2, ...(marker ? { Marker: marker } : {}) }));
      paged.push(...(out.Keys ?? []).map((k) => k.KeyId));
      marker = out.Truncated ? out.NextMarker : undefined;
      pages++;
    } while (marker);
    expect(paged).toEqual(everything);
    expect(pages).toBe(Math.ceil((everything?.length ?? 0) / 2));
  });

  it('rejects requests signed with a wrong secret or an unknown access key', async () => {
    const wrongSecret = kmsClient(emu, { ...EMULATOR_AWS_CREDENTIALS, secretAccessKey: 'not-the-secret' });
    await expect(wrongSecret.send(new ListKeysCommand({}))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    const unknown = kmsClient(emu, { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' });
    await expect(unknown.send(new ListKeysCommand({}))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    wrongSecret.destroy();
    unknown.destroy();
    expect((await kms.send(new ListKeysCommand({}))).Keys?.length).toBeGreaterThan(0);
  });

  it('throttles when told to, and the SDK retries to success', async () => {
    emu.faults.inject('throttle', { count: 2 });
    const before = emu.faults.injected;
    const res = await kms.send(new ListKeysCommand({}));
    expect(res.Keys?.length).toBeGreaterThan(0);
    expect(emu.faults.injected - before).toBe(2);
  });

  it('answers 500 KMSInternalException when told to, and the SDK retries', async () => {
    emu.faults.inject('error');
    expect((await kms.send(new ListKeysCommand({}))).Keys?.length).toBeGreaterThan(0);
    expect(emu.faults.pending).toBe(0);
    const oneShot = new KMSClient({
      endpoint: emu.endpoint,
      region: emu.region,
      credentials: EMULATOR_AWS_CREDENTIALS,
      maxAttempts: 1,
    });
    emu.faults.inject('error');
    await expect(oneShot.send(new ListKeysCommand({}))).rejects.toMatchObject({
      name: 'KMSInternalException',
      $metadata: { httpStatusCode: 500 },
    });
    oneShot.destroy();
  });

  it('hangs a request when told to, so client timeouts are exercised', async () => {
    emu.faults.inject('hang');
    await expect(
      kms.send(new ListKeysCommand({}), { abortSignal: AbortSignal.timeout(300) }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect((await kms.send(new ListKeysCommand({}))).Keys?.length).toBeGreaterThan(0);
  });

  it('keeps keys, material and tokens across a restart', async () => {
    const keyId = await externalKey('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
    await importInto(keyId, 'RSAES_OAEP_SHA_1', 'RSA_2048', randomBytes(32));
    const ct = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: message }));
    const alias = `alias/restart-${randomBytes(4).toString('hex')}`;
    await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
    await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'kept', TagValue: 'yes' }] }));
    const offset = emu.clock.offsetMs;
    kms.destroy();
    await emu.close();
    emu = await startKmsEmulator({ stateDir: dir.path });
    emu.clock.advance(offset);
    kms = kmsClient(emu);
    const pt = await kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob }));
    expect(Buffer.from(pt.Plaintext ?? []).equals(message)).toBe(true);
    expect((await kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata?.KeyId).toBe(keyId);
    expect((await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags).toEqual([
      { TagKey: 'kept', TagValue: 'yes' },
    ]);
    const sched = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    expect(sched.KeyState).toBe('PendingDeletion');
    await expect(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: message }))).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
    });
  });
});

describe('KMS emulator with a pre-generated wrapping key pool', () => {
  const dir = tempDir('kms-pool');
  let emu: KmsEmulator;
  let kms: KMSClient;

  beforeAll(async () => {
    emu = await startKmsEmulator({ stateDir: dir.path, wrappingKeyPool: 2 });
    kms = kmsClient(emu);
  });

  afterAll(async () => {
    kms?.destroy();
    await emu?.close();
    dir.remove();
  });

  it('hands each pooled key out once, then generates, and every one unwraps its import', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const created = await kms.send(
        new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT' }),
      );
      const keyId = created.KeyMetadata?.KeyId ?? '';
      const params = await kms.send(
        new GetParametersForImportCommand({
          KeyId: keyId,
          WrappingAlgorithm: 'RSAES_OAEP_SHA_256',
          WrappingKeySpec: 'RSA_2048',
        }),
      );
      seen.add(Buffer.from(params.PublicKey ?? new Uint8Array()).toString('base64'));
      const material = randomBytes(32);
      await kms.send(
        new ImportKeyMaterialCommand({
          KeyId: keyId,
          ImportToken: params.ImportToken,
          EncryptedKeyMaterial: wrap(params.PublicKey ?? new Uint8Array(), 'RSAES_OAEP_SHA_256', material),
          ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
        }),
      );
      const ciphertext = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })))
        .CiphertextBlob;
      expect(ciphertext).toBeDefined();
      expect(Buffer.from(ciphertext ?? new Uint8Array()).length).toBeGreaterThan(0);
    }
    expect(seen.size).toBe(3);
  });
});
