/** Domain types shared by the CLI, the PKCS#11 layer, the clouds layer and the ceremony worker. */

export type OaepHash = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export type EcCurveName = 'P-256' | 'P-384' | 'P-521' | 'secp256k1';

export interface EcCurve {
  readonly name: EcCurveName;
  /** Field size in bits: what `targetKeySpec`'s second value must equal. */
  readonly bits: number;
  readonly oid: string;
  /** DER of the named-curve OID: the value of CKA_EC_PARAMS. */
  readonly ecParamsDer: Buffer;
  /** Every spelling HsmConfig.ini accepts for it (`X9_62_prime256v1`, `P-256`, ...), compared case-insensitively. */
  readonly aliases: readonly string[];
  /** node:crypto's name (`prime256v1`, `secp384r1`, ...). */
  readonly nodeName: string;
  /** JWK `crv` (`P-256`, `P-384`, `P-521`, `P-256K`). */
  readonly jwkCrv: string;
}

export type KeySpec =
  | { readonly kind: 'rsa'; readonly bits: number }
  | { readonly kind: 'ec'; readonly bits: number; readonly curve: EcCurve }
  | { readonly kind: 'aes'; readonly bits: 128 | 192 | 256 }
  /**
   * A generic secret (CKK_GENERIC_SECRET) used as an HMAC key: AWS KMS HMAC_224..512. Not a drop-in
   * `targetKeySpec` type (the original knew no HMAC keys): only the cloud commands ask for it.
   */
  | { readonly kind: 'hmac'; readonly bits: 224 | 256 | 384 | 512 };

/** Sizes of HMAC keys AWS KMS imports (HMAC_224..HMAC_512): the key length equals the hash length. */
export const HMAC_KEY_BITS = [224, 256, 384, 512] as const;

export const TARGET_KEY_FLAGS = [
  'CKF_ENCRYPT',
  'CKF_DECRYPT',
  'CKF_SIGN',
  'CKF_SIGN_RECOVER',
  'CKF_VERIFY',
  'CKF_VERIFY_RECOVER',
  'CKF_WRAP',
  'CKF_UNWRAP',
  'CKF_DERIVE',
  'CKF_EXTRACTABLE',
  'CKF_TOKEN',
  'CKF_MODIFIABLE',
  'CKF_CREATE_IF_NOT_FOUND',
] as const;
export type TargetKeyFlag = (typeof TARGET_KEY_FLAGS)[number];

/**
 * How the target is wrapped. Both produce `RSA-OAEP(KEK, ephemeral AES-256) || AES-KWP(ephemeral, target)`:
 * one-step asks the HSM for CKM_RSA_AES_KEY_WRAP (0x1054), two-step does OAEP + RFC 5649 in two calls.
 * `kwpName` is the config's spelling of "RFC 5649" (which mechanism implements it is probed per module).
 */
export type WrapMethod =
  | { readonly kind: 'one-step'; readonly oaepHash: OaepHash }
  | {
      readonly kind: 'two-step';
      readonly oaepHash: OaepHash;
      readonly kwpName: 'CKM_AES_KWP' | 'CKM_AES_KEY_WRAP_KWP';
    };

/** One `[byok]` entry as read, in the order the original prints its `INFO: ReadIni:` lines. */
export interface IniEntry {
  /** Canonical key name (`libraryName`, `tokenLabel`, ...), whatever case the file used. */
  readonly name: string;
  /** The value as read: quotes removed, comments stripped, surrounding white space trimmed. */
  readonly value: string;
}

/** A validated HsmConfig.ini `[byok]` section. */
export interface HsmConfig {
  readonly libraryName: string;
  readonly tokenLabel: string;
  /** The `wrappingCiphers` list as written (upper-cased tokens). */
  readonly wrappingCiphers: readonly string[];
  readonly wrapMethod: WrapMethod;
  readonly schemaVersion: string;
  readonly kid: string;
  readonly targetKeyName: string;
  readonly targetKeySpec: KeySpec;
  readonly targetKeyFlags: ReadonlySet<TargetKeyFlag>;
}

export interface ParsedHsmConfig {
  readonly config: HsmConfig;
  readonly entries: readonly IniEntry[];
  /** Non-fatal findings, each one line (e.g. `RSA-1024 is accepted by no cloud KMS`, `both SHA-1 and SHA-256 listed`). */
  readonly warnings: readonly string[];
}
