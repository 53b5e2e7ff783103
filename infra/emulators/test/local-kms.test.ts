/**
 * Our AWS SDK usage (the symmetric EXTERNAL import flow) against local-kms, an emulator we did not write:
 * if our calls only worked against our own emulator, this is where it would show.
 */
import { execFileSync } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalKms, localKmsBinary, localKmsInstallScript, startLocalKms } from '../src/index.js';
import { tempDir } from './helpers.js';

function hasGo(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs local-kms when Go is there; the reason to skip otherwise. */
function ensureLocalKms(): string | undefined {
  if (existsSync(localKmsBinary())) return undefined;
  if (!hasGo())
    return `local-kms is not installed at ${localKmsBinary()} and 'go' is not on PATH to build it`;
  execFileSync('bash', [localKmsInstallScript()], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600_000,
  });
  return undefined;
}

const skipReason = ensureLocalKms();
if (skipReason) console.warn(`skipping local-kms tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)(
  'symmetric EXTERNAL import against local-kms (third-party emulator)',
  () => {
    const dir = tempDir('local-kms');
    let lkms: LocalKms;
    let kms: KMSClient;

    beforeAll(async () => {
      lkms = await startLocalKms(dir.path);
      // local-kms does not check signatures; any credentials do.
      kms = new KMSClient({
        endpoint: lkms.endpoint,
        region: lkms.region,
        credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' },
      });
    });

    afterAll(async () => {
      kms?.destroy();
      await lkms?.close();
      dir.remove();
    });

    for (const algorithm of ['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1'] as const) {
      it(`imports 256-bit material wrapped with ${algorithm} under an RSA_2048 wrapping key, then encrypts and decrypts`, async () => {
        const created = await kms.send(
          new CreateKeyCommand({ Origin: 'EXTERNAL', Description: `byok ${algorithm}` }),
        );
        const keyId = created.KeyMetadata?.KeyId ?? '';
        expect(created.KeyMetadata?.KeyState).toBe('PendingImport');
        const params = await kms.send(
          new GetParametersForImportCommand({
            KeyId: keyId,
            WrappingAlgorithm: algorithm,
            WrappingKeySpec: 'RSA_2048',
          }),
        );
        const wrappingKey = createPublicKey({
          key: Buffer.from(params.PublicKey ?? []),
          format: 'der',
          type: 'spki',
        });
        expect(wrappingKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
        const material = randomBytes(32);
        const encrypted = publicEncrypt(
          {
            key: wrappingKey,
            padding: constants.RSA_PKCS1_OAEP_PADDING,
            oaepHash: algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256',
          },
          material,
        );
        // Whole seconds: local-kms rejects fractional ValidTo; ExpirationModel always sent.
        const validTo = new Date((Math.floor(Date.now() / 1000) + 7 * 86400) * 1000);
        await kms.send(
          new ImportKeyMaterialCommand({
            KeyId: keyId,
            ImportToken: params.ImportToken,
            EncryptedKeyMaterial: encrypted,
            ExpirationModel: 'KEY_MATERIAL_EXPIRES',
            ValidTo: validTo,
          }),
        );
        const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
        expect(described.KeyMetadata?.KeyState).toBe('Enabled');
        const plaintext = Buffer.from('proof that the imported key works');
        const ct = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        const pt = await kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob }));
        expect(Buffer.from(pt.Plaintext ?? []).equals(plaintext)).toBe(true);
        expect(pt.KeyId).toContain(keyId);
      });
    }

    it('refuses material wrapped under another wrapping key (local-kms really unwraps)', async () => {
      const created = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
      const keyId = created.KeyMetadata?.KeyId ?? '';
      const params = await kms.send(
        new GetParametersForImportCommand({
          KeyId: keyId,
          WrappingAlgorithm: 'RSAES_OAEP_SHA_256',
          WrappingKeySpec: 'RSA_2048',
        }),
      );
      const other = await kms.send(
        new GetParametersForImportCommand({
          KeyId: keyId,
          WrappingAlgorithm: 'RSAES_OAEP_SHA_256',
          WrappingKeySpec: 'RSA_2048',
        }),
      );
      const wrongKey = createPublicKey({
        key: Buffer.from(other.PublicKey ?? []),
        format: 'der',
        type: 'spki',
      });
      const encrypted = publicEncrypt(
        { key: wrongKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        randomBytes(32),
      );
      await expect(
        kms.send(
          new ImportKeyMaterialCommand({
            KeyId: keyId,
            ImportToken: params.ImportToken,
            EncryptedKeyMaterial: encrypted,
            ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
          }),
        ),
      ).rejects.toMatchObject({ name: expect.stringMatching(/Exception$/) });
      expect(Buffer.from(other.PublicKey ?? []).equals(Buffer.from(params.PublicKey ?? []))).toBe(false);
    });
  },
);
