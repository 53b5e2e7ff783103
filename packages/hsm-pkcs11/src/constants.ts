import { hex8 } from '@byok/core';

/**
 * The PKCS#11 numbers this package uses, written out once (PKCS#11 v2.40 / v3.0 headers, plus the vendor
 * codes we meet in the field). Everything else in the package refers to these names, never to literals.
 */

/** Object classes (CKA_CLASS). */
export const CKO = {
  CKO_PUBLIC_KEY: 0x02,
  CKO_PRIVATE_KEY: 0x03,
  CKO_SECRET_KEY: 0x04,
} as const;

/** Key types (CKA_KEY_TYPE). */
export const CKK = {
  CKK_RSA: 0x00,
  CKK_EC: 0x03,
  CKK_GENERIC_SECRET: 0x10,
  CKK_AES: 0x1f,
} as const;

/** Attribute types. */
export const CKA = {
  CKA_CLASS: 0x0000,
  CKA_TOKEN: 0x0001,
  CKA_PRIVATE: 0x0002,
  CKA_LABEL: 0x0003,
  CKA_VALUE: 0x0011,
  CKA_KEY_TYPE: 0x0100,
  CKA_ID: 0x0102,
  CKA_SENSITIVE: 0x0103,
  CKA_ENCRYPT: 0x0104,
  CKA_DECRYPT: 0x0105,
  CKA_WRAP: 0x0106,
  CKA_UNWRAP: 0x0107,
  CKA_SIGN: 0x0108,
  CKA_SIGN_RECOVER: 0x0109,
  CKA_VERIFY: 0x010a,
  CKA_VERIFY_RECOVER: 0x010b,
  CKA_DERIVE: 0x010c,
  CKA_MODULUS: 0x0120,
  CKA_MODULUS_BITS: 0x0121,
  CKA_PUBLIC_EXPONENT: 0x0122,
  CKA_VALUE_LEN: 0x0161,
  CKA_EXTRACTABLE: 0x0162,
  CKA_LOCAL: 0x0163,
  CKA_NEVER_EXTRACTABLE: 0x0164,
  CKA_ALWAYS_SENSITIVE: 0x0165,
  CKA_MODIFIABLE: 0x0170,
  CKA_EC_PARAMS: 0x0180,
  CKA_EC_POINT: 0x0181,
  CKA_WRAP_WITH_TRUSTED: 0x0210,
} as const;

/** Mechanisms, including the vendor ones we probe for. */
export const CKM = {
  CKM_RSA_PKCS_KEY_PAIR_GEN: 0x0000,
  CKM_RSA_PKCS: 0x0001,
  CKM_RSA_PKCS_OAEP: 0x0009,
  CKM_SHA256_RSA_PKCS: 0x0040,
  CKM_SHA256_RSA_PKCS_PSS: 0x0043,
  CKM_SHA_1: 0x0220,
  CKM_SHA224: 0x0255,
  CKM_SHA256: 0x0250,
  CKM_SHA256_HMAC: 0x0251,
  CKM_SHA224_HMAC: 0x0256,
  CKM_SHA384: 0x0260,
  CKM_SHA384_HMAC: 0x0261,
  CKM_SHA512: 0x0270,
  CKM_SHA512_HMAC: 0x0271,
  CKM_GENERIC_SECRET_KEY_GEN: 0x0350,
  CKM_EC_KEY_PAIR_GEN: 0x1040,
  CKM_ECDSA: 0x1041,
  CKM_ECDSA_SHA256: 0x1044,
  CKM_RSA_AES_KEY_WRAP: 0x1054,
  CKM_AES_KEY_GEN: 0x1080,
  CKM_AES_ECB: 0x1081,
  CKM_AES_CBC: 0x1082,
  CKM_AES_CBC_PAD: 0x1085,
  CKM_AES_KEY_WRAP: 0x2109,
  /** RFC 5649 in SoftHSM 2.x; PKCS#7-padded RFC 3394 in PKCS#11 v3.0. Judge by module, not by number. */
  CKM_AES_KEY_WRAP_PAD: 0x210a,
  /** RFC 5649, PKCS#11 v3.0 name. */
  CKM_AES_KEY_WRAP_KWP: 0x210b,
  /** Thales Luna's RFC 5649 (CKM_VENDOR_DEFINED + 0x171). */
  CKM_LUNA_AES_KWP: 0x80000171,
} as const;

/** The HMAC mechanism per hash, as KMS's HMAC_224..HMAC_512 keys (and `HsmProof.hmac`) name them. */
export const CKM_HMAC: Readonly<Record<'sha224' | 'sha256' | 'sha384' | 'sha512', number>> = {
  sha224: CKM.CKM_SHA224_HMAC,
  sha256: CKM.CKM_SHA256_HMAC,
  sha384: CKM.CKM_SHA384_HMAC,
  sha512: CKM.CKM_SHA512_HMAC,
};

/** CK_MECHANISM_INFO flags. */
export const CKF_MECH = {
  CKF_ENCRYPT: 0x00000100,
  CKF_DECRYPT: 0x00000200,
  CKF_SIGN: 0x00000800,
  CKF_VERIFY: 0x00002000,
  CKF_GENERATE: 0x00008000,
  CKF_GENERATE_KEY_PAIR: 0x00010000,
  CKF_WRAP: 0x00020000,
  CKF_UNWRAP: 0x00040000,
} as const;

/** Session, token flags and user types. */
export const CKF_SESSION = { CKF_RW_SESSION: 0x02, CKF_SERIAL_SESSION: 0x04 } as const;
export const CKF_TOKEN_INITIALIZED = 0x00000400;
export const CKU_USER = 1;

/** MGF1 generators (CK_RSA_PKCS_OAEP_PARAMS.mgf) and the OAEP encoding-parameter source. */
export const CKG = {
  CKG_MGF1_SHA1: 0x1,
  CKG_MGF1_SHA256: 0x2,
  CKG_MGF1_SHA384: 0x3,
  CKG_MGF1_SHA512: 0x4,
  CKG_MGF1_SHA224: 0x5,
} as const;
export const CKZ_DATA_SPECIFIED = 0x1;

const NAMES = new Map<number, string>(
  Object.entries(CKM)
    .filter(([name]) => name !== 'CKM_LUNA_AES_KWP')
    .map(([name, value]) => [value, name]),
);
// Luna's headers call it CKM_AES_KWP; ours needs another key so it does not clash with the standard names.
NAMES.set(CKM.CKM_LUNA_AES_KWP, 'CKM_AES_KWP');

/** `CKM_AES_KEY_WRAP_PAD (0x0000210A)`; unknown numbers print as `CKM_0x...` / `CKM_VENDOR_DEFINED_0x...`. */
export function mechanismName(mechanism: number): string {
  const name = NAMES.get(mechanism) ?? (mechanism >= 0x80000000 ? 'CKM_VENDOR_DEFINED' : 'CKM');
  return `${name} (${hex8(mechanism)})`;
}
