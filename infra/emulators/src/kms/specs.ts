/** The KMS vocabulary: key specs, usages, algorithms, and which combinations the service allows. */

export const KEY_SPECS = [
  'SYMMETRIC_DEFAULT',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
] as const;
export type KeySpec = (typeof KEY_SPECS)[number];

export const KEY_USAGES = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC'] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export const ORIGINS = ['AWS_KMS', 'EXTERNAL'] as const;
export type Origin = (typeof ORIGINS)[number];

export const WRAPPING_ALGORITHMS = [
  'RSAES_PKCS1_V1_5',
  'RSAES_OAEP_SHA_1',
  'RSAES_OAEP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_1',
  'RSA_AES_KEY_WRAP_SHA_256',
] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];

export const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const;
export type WrappingKeySpec = (typeof WRAPPING_KEY_SPECS)[number];

export const SIGNING_ALGORITHMS = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
  'ECDSA_SHA_512',
] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export const MAC_ALGORITHMS = ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512'] as const;
export type MacAlgorithm = (typeof MAC_ALGORITHMS)[number];

export const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const;
export type EncryptionAlgorithm = (typeof ENCRYPTION_ALGORITHMS)[number];

export type SpecFamily = 'symmetric' | 'hmac' | 'rsa' | 'ecc';

export function familyOf(spec: KeySpec): SpecFamily {
  if (spec === 'SYMMETRIC_DEFAULT') return 'symmetric';
  if (spec.startsWith('HMAC_')) return 'hmac';
  if (spec.startsWith('RSA_')) return 'rsa';
  return 'ecc';
}

export const RSA_BITS: Readonly<Partial<Record<KeySpec, number>>> = {
  RSA_2048: 2048,
  RSA_3072: 3072,
  RSA_4096: 4096,
};

export const ECC_CURVE: Readonly<Partial<Record<KeySpec, string>>> = {
  ECC_NIST_P256: 'prime256v1',
  ECC_NIST_P384: 'secp384r1',
  ECC_NIST_P521: 'secp521r1',
  ECC_SECG_P256K1: 'secp256k1',
};

/** Imported HMAC key lengths KMS accepts, in bytes (the key spec's size up to its hash block size). */
export const HMAC_KEY_BYTES: Readonly<Partial<Record<KeySpec, readonly [number, number]>>> = {
  HMAC_224: [28, 64],
  HMAC_256: [32, 64],
  HMAC_384: [48, 128],
  HMAC_512: [64, 128],
};

export const MAC_ALGORITHM_OF: Readonly<Partial<Record<KeySpec, MacAlgorithm>>> = {
  HMAC_224: 'HMAC_SHA_224',
  HMAC_256: 'HMAC_SHA_256',
  HMAC_384: 'HMAC_SHA_384',
  HMAC_512: 'HMAC_SHA_512',
};

export function usagesFor(spec: KeySpec): readonly KeyUsage[] {
  switch (familyOf(spec)) {
    case 'symmetric':
      return ['ENCRYPT_DECRYPT'];
    case 'hmac':
      return ['GENERATE_VERIFY_MAC'];
    case 'rsa':
      return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'];
    case 'ecc':
      return ['SIGN_VERIFY'];
  }
}

export function signingAlgorithmsFor(spec: KeySpec): SigningAlgorithm[] {
  if (familyOf(spec) === 'rsa') return SIGNING_ALGORITHMS.filter((a) => a.startsWith('RSASSA_'));
  if (spec === 'ECC_NIST_P384') return ['ECDSA_SHA_384'];
  if (spec === 'ECC_NIST_P521') return ['ECDSA_SHA_512'];
  return ['ECDSA_SHA_256'];
}

export function encryptionAlgorithmsFor(spec: KeySpec): EncryptionAlgorithm[] {
  return spec === 'SYMMETRIC_DEFAULT' ? ['SYMMETRIC_DEFAULT'] : ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];
}
