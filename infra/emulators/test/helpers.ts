/** Shared test plumbing: throwaway state folders, SDK clients wired to the emulator's CA, BYOK blob building. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CryptographyClient, KeyClient, type KeyClientOptions, type KeyVaultKey } from '@azure/keyvault-keys';
import { base64url, encodeByokBlob, rsaAesKeyWrap } from '@byok/core';
import { emulatorCredential, type KeyVaultEmulator } from '../src/index.js';

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `byok-emu-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * The SDK as a user configures it, plus the two things an emulator on 127.0.0.1 needs: trust in its CA
 * (`tlsOptions.ca`, no certificate check is switched off) and `disableChallengeResourceVerification`, because
 * the challenge names the real resource (vault.azure.net) and 127.0.0.1 is not a subdomain of it.
 */
export function clientOptions(emu: KeyVaultEmulator): KeyClientOptions {
  return {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: emu.caCertPem },
    retryOptions: { maxRetries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 50 },
  };
}

export function keyClient(emu: KeyVaultEmulator): KeyClient {
  return new KeyClient(emu.url, emulatorCredential(), clientOptions(emu));
}

export function cryptoClient(emu: KeyVaultEmulator, key: KeyVaultKey | string): CryptographyClient {
  return new CryptographyClient(key, emulatorCredential(), clientOptions(emu));
}

/** The KEK's public key from its JWK n/e, as a custodian would download it. */
export function kekPublicKey(kek: KeyVaultKey): KeyObject {
  const { n, e } = kek.key ?? {};
  if (!n || !e) throw new Error('the KEK has no n/e');
  return createPublicKey({
    key: { kty: 'RSA', n: Buffer.from(n).toString('base64url'), e: Buffer.from(e).toString('base64url') },
    format: 'jwk',
  });
}

/** What hsmbyok writes: the .byok JSON, target wrapped with CKM_RSA_AES_KEY_WRAP (OAEP SHA-1) under the KEK. */
export function byokFile(kekPublic: KeyObject, kid: string, material: Buffer): Uint8Array {
  const ciphertext = rsaAesKeyWrap(kekPublic, material, { oaepHash: 'sha1' });
  const text = encodeByokBlob({
    schemaVersion: '1.0.0',
    kid,
    enc: 'CKM_RSA_AES_KEY_WRAP',
    ciphertext,
    generator: 'emulator tests; softhsm 2.6.1',
  });
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

export { base64url };
