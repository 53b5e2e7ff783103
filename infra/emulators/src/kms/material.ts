/**
 * ImportKeyMaterial's cryptography: unwrap EncryptedKeyMaterial with the wrapping private key of the import
 * token, by the token's algorithm, and check the plaintext is key material of the KMS key's spec.
 *   RSAES_OAEP_SHA_*        the raw material, RSA-OAEP encrypted directly;
 *   RSA_AES_KEY_WRAP_SHA_*  CKM_RSA_AES_KEY_WRAP (core's rsaAesKeyUnwrap): RSA-OAEP(AES key) || KWP(material).
 */
import { constants, createPrivateKey, privateDecrypt } from 'node:crypto';
import { ByokError, parseKeyMaterial, rsaAesKeyUnwrap } from '@byok/core';
import { incorrectKeyMaterial, invalidCiphertext, validation } from './errors.js';
import {
  ECC_CURVE,
  familyOf,
  HMAC_KEY_BYTES,
  type KeySpec,
  RSA_BITS,
  type WrappingAlgorithm,
  type WrappingKeySpec,
} from './specs.js';

export interface UnwrappedMaterial {
  readonly secret?: Buffer;
  readonly privateKeyPem?: string;
  /** The bytes KeyMaterialId is computed over (the key bytes, or the PKCS#8 DER without padding). */
  readonly canonical: Buffer;
}

const OAEP_CAPACITY_BYTES: Readonly<Record<WrappingKeySpec, Record<'sha1' | 'sha256', number>>> = {
  RSA_2048: { sha1: 256 - 42, sha256: 256 - 66 },
  RSA_3072: { sha1: 384 - 42, sha256: 384 - 66 },
  RSA_4096: { sha1: 512 - 42, sha256: 512 - 66 },
};

/** Largest PKCS#8 (with public key) per ECC spec, to refuse combinations that cannot fit RSA-OAEP. */
const ECC_PKCS8_BYTES: Readonly<Partial<Record<KeySpec, number>>> = {
  ECC_NIST_P256: 138,
  ECC_SECG_P256K1: 135,
  ECC_NIST_P384: 185,
  ECC_NIST_P521: 241,
};

/** GetParametersForImport's rules: which wrapping algorithms fit which key material. */
export function checkWrappingCombination(
  spec: KeySpec,
  algorithm: WrappingAlgorithm,
  wrappingKeySpec: WrappingKeySpec,
): void {
  if (algorithm === 'RSAES_PKCS1_V1_5') {
    throw validation(
      'KMS no longer supports the RSAES_PKCS1_V1_5 wrapping algorithm; use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.',
    );
  }
  const family = familyOf(spec);
  const isOaep = algorithm.startsWith('RSAES_OAEP_');
  if (family === 'rsa' && isOaep) {
    throw validation(
      `${algorithm} cannot wrap RSA private key material (${spec}); use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.`,
    );
  }
  if ((family === 'symmetric' || family === 'hmac') && !isOaep) {
    throw validation(
      `${algorithm} is supported for RSA and ECC key material only; use RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 for ${spec}.`,
    );
  }
  const need = ECC_PKCS8_BYTES[spec];
  if (isOaep && need !== undefined) {
    const capacity =
      OAEP_CAPACITY_BYTES[wrappingKeySpec][algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256'];
    if (need > capacity) {
      throw validation(
        `${spec} key material does not fit ${algorithm} with a ${wrappingKeySpec} wrapping key; use a larger wrapping key or RSA_AES_KEY_WRAP_SHA_256.`,
      );
    }
  }
}

export function unwrapMaterial(
  spec: KeySpec,
  algorithm: WrappingAlgorithm,
  wrappingPrivateKeyPem: string,
  encrypted: Buffer,
): UnwrappedMaterial {
  const wrappingKey = createPrivateKey(wrappingPrivateKeyPem);
  const oaepHash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  let plain: Buffer;
  try {
    plain = algorithm.startsWith('RSAES_OAEP_')
      ? privateDecrypt({ key: wrappingKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, encrypted)
      : rsaAesKeyUnwrap(wrappingKey, encrypted, { oaepHash });
  } catch {
    throw invalidCiphertext(
      `The encrypted key material could not be decrypted with the wrapping key of this import token using ${algorithm}.`,
    );
  }
  return checkMaterial(spec, plain);
}

function checkMaterial(spec: KeySpec, plain: Buffer): UnwrappedMaterial {
  const family = familyOf(spec);
  if (family === 'symmetric') {
    if (plain.length !== 32)
      throw incorrectKeyMaterial(
        `SYMMETRIC_DEFAULT key material must be 256 bits (32 bytes), got ${plain.length} bytes.`,
      );
    return { secret: plain, canonical: plain };
  }
  if (family === 'hmac') {
    const [min, max] = HMAC_KEY_BYTES[spec] ?? [0, 0];
    if (plain.length < min || plain.length > max) {
      throw incorrectKeyMaterial(`${spec} key material must be ${min} to ${max} bytes, got ${plain.length}.`);
    }
    return { secret: plain, canonical: plain };
  }
  try {
    const parsed = parseKeyMaterial(plain, family === 'rsa' ? 'rsa' : 'ec');
    if (parsed.kind === 'aes' || parsed.kind === 'hmac')
      throw incorrectKeyMaterial(`${spec} key material must be a PKCS#8 private key.`);
    const details = parsed.privateKey.asymmetricKeyDetails;
    if (family === 'rsa' && details?.modulusLength !== RSA_BITS[spec]) {
      throw incorrectKeyMaterial(
        `The key material is RSA-${details?.modulusLength}; the KMS key's spec is ${spec}.`,
      );
    }
    if (family === 'ecc' && details?.namedCurve !== ECC_CURVE[spec]) {
      throw incorrectKeyMaterial(
        `The key material is on curve ${details?.namedCurve}; the KMS key's spec is ${spec}.`,
      );
    }
    const der = parsed.privateKey.export({ format: 'der', type: 'pkcs8' });
    return {
      privateKeyPem: parsed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      canonical: der,
    };
  } catch (err) {
    if (err instanceof ByokError)
      throw incorrectKeyMaterial(`The key material is not a valid ${spec} private key: ${err.message}`);
    throw err;
  }
}
