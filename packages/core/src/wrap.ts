/**
 * Software reference of CKM_RSA_AES_KEY_WRAP (PKCS#11 v2.40 s2.1.21), node:crypto only:
 *   RSA-OAEP(KEK, ephemeral AES key) || AES-KWP(ephemeral AES key, key material)   (KWP = RFC 5649)
 * The HSM does the real wrap; this is what tests, emulators and verifiers use to prove a blob, so every
 * failure is a ByokError and no message ever carries key bytes.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { ByokError } from './errors.js';
import type { OaepHash } from './types.js';

/** RFC 5649 s3: the alternative initial value's constant half; OpenSSL appends the length indicator. */
const KWP_IV = Buffer.from('A65959A6', 'hex');

const KWP_CIPHERS: Readonly<Record<number, string>> = {
  16: 'id-aes128-wrap-pad',
  24: 'id-aes192-wrap-pad',
  32: 'id-aes256-wrap-pad',
};

const OAEP_HASH_BYTES: Readonly<Record<OaepHash, number>> = {
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

export const OAEP_HASHES: readonly OaepHash[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

function kwpCipher(key: Buffer): string {
  const name = KWP_CIPHERS[key.length];
  if (!name) {
    throw new ByokError(
      'CKR_WRAPPING_KEY_SIZE_RANGE',
      `AES-KWP key is ${key.length} bytes; it must be 16, 24 or 32 bytes (AES-128, AES-192 or AES-256)`,
    );
  }
  return name;
}

/** RFC 5649 key wrap with padding: `data` of any length from 1 byte; output = data padded to 8, plus 8. */
export function aesKwpWrap(key: Buffer, data: Buffer): Buffer {
  const cipher = kwpCipher(key);
  if (data.length === 0) {
    throw new ByokError('CKR_ARGUMENTS_BAD', 'AES-KWP cannot wrap empty data');
  }
  const c = createCipheriv(cipher, key, KWP_IV);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Inverse of aesKwpWrap. A wrong key or altered data fails RFC 5649's integrity check. */
export function aesKwpUnwrap(key: Buffer, data: Buffer): Buffer {
  const cipher = kwpCipher(key);
  if (data.length < 16 || data.length % 8 !== 0) {
    throw new ByokError(
      'CKR_WRAPPED_KEY_INVALID',
      `AES-KWP wrapped data is ${data.length} bytes; it must be a multiple of 8 and at least 16`,
    );
  }
  try {
    const d = createDecipheriv(cipher, key, KWP_IV);
    return Buffer.concat([d.update(data), d.final()]);
  } catch (cause) {
    throw new ByokError(
      'CKR_WRAPPED_KEY_INVALID',
      'AES-KWP unwrap failed its integrity check: wrong AES key or the wrapped data was altered',
      { cause },
    );
  }
}

function rsaModulusBits(key: KeyObject, role: string): number {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new ByokError(
      'CKR_WRAPPING_KEY_TYPE_INCONSISTENT',
      `${role} is a ${key.asymmetricKeyType ?? key.type} key; RSA-OAEP needs an RSA key`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined) {
    throw new ByokError(
      'CKR_WRAPPING_KEY_TYPE_INCONSISTENT',
      `${role}: node:crypto reports no modulus length`,
    );
  }
  return bits;
}

/** RSA-OAEP with MGF1 over the label hash: CKM_RSA_PKCS_OAEP with hashAlg and mgf on the same hash. */
export function rsaOaepEncrypt(key: KeyObject, data: Buffer, hash: OaepHash): Buffer {
  const bits = rsaModulusBits(key, 'the OAEP key');
  const capacity = Math.ceil(bits / 8) - 2 * OAEP_HASH_BYTES[hash] - 2;
  if (data.length > capacity) {
    throw new ByokError(
      'CKR_WRAPPING_KEY_SIZE_RANGE',
      `RSA-${bits} with OAEP ${hash} can encrypt at most ${Math.max(capacity, 0)} bytes, not ${data.length}`,
    );
  }
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
}

export function rsaOaepDecrypt(key: KeyObject, data: Buffer, hash: OaepHash): Buffer {
  const bits = rsaModulusBits(key, 'the OAEP key');
  if (key.type !== 'private') {
    throw new ByokError(
      'CKR_KEY_TYPE_INCONSISTENT',
      'RSA-OAEP decryption needs the private key, got a public key',
    );
  }
  if (data.length !== Math.ceil(bits / 8)) {
    throw new ByokError(
      'CKR_WRAPPED_KEY_INVALID',
      `RSA-OAEP ciphertext is ${data.length} bytes; RSA-${bits} produces exactly ${Math.ceil(bits / 8)}`,
    );
  }
  try {
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
  } catch (cause) {
    throw new ByokError(
      'CKR_WRAPPED_KEY_INVALID',
      `RSA-OAEP decryption failed: the blob was wrapped under another KEK or with an OAEP hash other than ${hash}`,
      { cause },
    );
  }
}

export interface RsaAesKeyWrapOptions {
  /** Label hash and MGF1 hash alike (PKCS#11 lets them differ; no HSM or cloud we target does). */
  readonly oaepHash: OaepHash;
  /** Ephemeral AES key size; every cloud wants 256, the default. */
  readonly aesKeyBits?: 128 | 192 | 256;
}

/** CKM_RSA_AES_KEY_WRAP in software: what an HSM with 0x1054 returns from C_WrapKey. */
export function rsaAesKeyWrap(kekPublic: KeyObject, keyMaterial: Buffer, opts: RsaAesKeyWrapOptions): Buffer {
  const aesBits = opts.aesKeyBits ?? 256;
  const ephemeral = randomBytes(aesBits / 8);
  try {
    const wrappedKey = rsaOaepEncrypt(kekPublic, ephemeral, opts.oaepHash);
    return Buffer.concat([wrappedKey, aesKwpWrap(ephemeral, keyMaterial)]);
  } finally {
    // The ephemeral key protects the target in transit: do not leave it in the heap longer than needed.
    ephemeral.fill(0);
  }
}

export interface RsaAesKeyUnwrapOptions {
  readonly oaepHash: OaepHash;
}

/** Splits the blob at the KEK's modulus length, OAEP-decrypts the ephemeral key and KWP-unwraps the rest. */
export function rsaAesKeyUnwrap(
  kekPrivate: KeyObject,
  wrapped: Buffer,
  opts: RsaAesKeyUnwrapOptions,
): Buffer {
  const bits = rsaModulusBits(kekPrivate, 'the KEK');
  const k = Math.ceil(bits / 8);
  if (wrapped.length < k + 16) {
    throw new ByokError(
      'CKR_WRAPPED_KEY_INVALID',
      `wrapped key is ${wrapped.length} bytes; with an RSA-${bits} KEK it must be at least ${k + 16} ` +
        `(${k} bytes of RSA-OAEP, then at least 16 of AES-KWP)`,
    );
  }
  const ephemeral = rsaOaepDecrypt(kekPrivate, wrapped.subarray(0, k), opts.oaepHash);
  try {
    if (!KWP_CIPHERS[ephemeral.length]) {
      throw new ByokError(
        'CKR_WRAPPED_KEY_INVALID',
        `the RSA-OAEP part holds ${ephemeral.length} bytes; an ephemeral AES key is 16, 24 or 32 bytes`,
      );
    }
    return aesKwpUnwrap(ephemeral, wrapped.subarray(k));
  } finally {
    ephemeral.fill(0);
  }
}
