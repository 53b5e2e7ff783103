/**
 * Helpers over the plain-data preparation and result: back to node:crypto keys, expiry, and a software wrap
 * for keys that do not live in an HSM (tests, proving the cloud side of an algorithm the HSM cannot do).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { type Kek, parseKekPem, rsaAesKeyWrap, rsaOaepEncrypt } from '@byok/core';
import { cloudError } from './errors.js';
import type { ImportedKey, ImportPreparation } from './types.js';

/** The KEK to wrap to, re-checked: a preparation whose PEM and fingerprint disagree was altered. */
export function preparationKek(preparation: ImportPreparation): Kek {
  const kek = parseKekPem(preparation.kek.publicKeyPem, { source: 'preparation KEK' });
  if (kek.fingerprint !== preparation.kek.fingerprint) {
    throw cloudError(
      'PREPARATION_MISMATCH',
      undefined,
      `the preparation's KEK public key has fingerprint ${kek.fingerprint}, not the recorded ${preparation.kek.fingerprint}`,
    );
  }
  return kek;
}

export function importedPublicKey(imported: ImportedKey): KeyObject | undefined {
  return imported.publicKeyPem ? createPublicKey(imported.publicKeyPem) : undefined;
}

/**
 * True when the import parameters are no longer usable at `now` (AWS tokens live 24 h). `marginMs` treats a
 * token about to expire as expired, so nobody starts a wrap that cannot finish in time.
 */
export function isPreparationExpired(
  preparation: ImportPreparation,
  now: Date = new Date(),
  marginMs = 0,
): boolean {
  if (!preparation.expiresAt) return false;
  return Date.parse(preparation.expiresAt) - marginMs <= now.getTime();
}

/**
 * Wraps key material in software exactly as the preparation says (CKM_RSA_AES_KEY_WRAP or plain RSA-OAEP).
 * For keys that are not in an HSM; an HSM-held key is wrapped by @byok/hsm-pkcs11 and never seen in clear.
 */
export function wrapInSoftware(preparation: ImportPreparation, material: Buffer): Buffer {
  const kek = preparationKek(preparation);
  const { format, oaepHash } = preparation.wrap;
  return format === 'rsa-oaep'
    ? rsaOaepEncrypt(kek.publicKey, material, oaepHash)
    : rsaAesKeyWrap(kek.publicKey, material, { oaepHash });
}
