/**
 * The one interface the CLI and the ceremony worker use for every cloud. Requests, preparations and results
 * are plain JSON data (strings, numbers, arrays): they cross Temporal activity boundaries and land in
 * evidence, so no KeyObject, Buffer or Date lives in them. `preparationKek` / `importedPublicKey` turn the
 * PEM fields back into node:crypto keys.
 */
import type { KeyObject } from 'node:crypto';
import type { EcCurveName, OaepHash } from '@byok/core';

/** Where a key goes. Managed HSM and Key Vault share an API but not their rules (oct keys, FIPS level). */
export type CloudKind = 'azure-keyvault' | 'azure-managedhsm' | 'aws-kms';

/**
 * The key to import, as data. `aes` is Azure Managed HSM oct-HSM (128/192/256) or AWS SYMMETRIC_DEFAULT (256);
 * `hmac` is AWS only (HMAC_224..512).
 */
export type CloudKeySpec =
  | { readonly kind: 'rsa'; readonly bits: 2048 | 3072 | 4096 }
  | { readonly kind: 'ec'; readonly curve: EcCurveName }
  | { readonly kind: 'aes'; readonly bits: 128 | 192 | 256 }
  | { readonly kind: 'hmac'; readonly bits: 224 | 256 | 384 | 512 };

/** JWK key operations (Azure's `key_ops`); AWS derives its KeyUsage from them (see README). */
export type KeyOp = 'sign' | 'verify' | 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey';

export const KEY_OPS: readonly KeyOp[] = ['sign', 'verify', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'];

/** The OAEP hashes the clouds name; an HSM that can do neither cannot take part. */
export type CloudOaepHash = Extract<OaepHash, 'sha1' | 'sha256'>;

export type AwsWrappingAlgorithm =
  | 'RSAES_OAEP_SHA_1'
  | 'RSAES_OAEP_SHA_256'
  | 'RSA_AES_KEY_WRAP_SHA_1'
  | 'RSA_AES_KEY_WRAP_SHA_256';

export type WrappingKeyBits = 2048 | 3072 | 4096;

/** The Azure SDK guidelines' options bag: every network call takes the caller's (Temporal's) cancellation. */
export interface OperationOptions {
  readonly abortSignal?: AbortSignal;
}

export interface PrepareImportRequest {
  /** Azure: the key to import (name rules `^[0-9A-Za-z-]{1,127}$`). AWS: recorded in Description and tags. */
  readonly keyName: string;
  readonly spec: CloudKeySpec;
  /** Defaults: RSA/EC sign+verify, AES encrypt+decrypt+wrapKey+unwrapKey, HMAC sign+verify. */
  readonly keyOps?: readonly KeyOp[];
  /**
   * OAEP hashes the HSM can wrap with. SoftHSM: ['sha1']. Default: both. AWS takes SHA-256 when allowed and
   * SHA-1 otherwise (with a note); Azure requires SHA-1 and refuses when it is not listed.
   */
  readonly hsmOaepHashes?: readonly CloudOaepHash[];
  /** Azure: size of a new KEK; AWS: WrappingKeySpec. Default 3072. */
  readonly wrappingKeyBits?: WrappingKeyBits;
  /** Azure: reuse this KEK (checked: RSA-HSM, 2048..4096, key_ops exactly ['import']). */
  readonly existingKekName?: string;
  /** Azure: name of the KEK to create; default `<keyName>-kek`. It must not exist yet. */
  readonly kekName?: string;
  /** AWS: import into this EXTERNAL key (PendingImport) instead of creating one. */
  readonly existingKeyId?: string;
  /**
   * AWS: the alias (`alias/<name>`) the new EXTERNAL key gets (CreateAlias). An alias that already names a key
   * not tagged as `owner`'s is refused (`ALIAS_IN_USE`) before anything is created. Not with `existingKeyId`.
   */
  readonly alias?: string;
  /** AWS: who creates the key, so that a repeated prepareImport finds and reuses it (see `KeyOwner`). */
  readonly owner?: KeyOwner;
  /** AWS: force a wrapping algorithm (checked against the key spec and hsmOaepHashes). */
  readonly wrappingAlgorithm?: AwsWrappingAlgorithm;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * When a later step of prepareImport fails, delete what it created (Azure KEK; AWS key scheduled for
   * deletion after 7 days). Default false: the error names the resource instead.
   */
  readonly cleanupOnFailure?: boolean;
}

/**
 * AWS: CreateKey is not idempotent. A caller that may run prepareImport again after a crash (a Temporal
 * activity) names itself with a tag; the key it creates carries the tag, and a repeated call looks for it
 * before creating one: the alias's key, then `knownKeyId`, then (with `search`) every key of the account.
 * It reuses one PendingImport key and schedules deletion of any other PendingImport key with the tag.
 */
export interface KeyOwner {
  /** Tag set on the created key, e.g. `byok-ceremony` = `<ceremony id>`; a key is the owner's only with it. */
  readonly tagKey: string;
  readonly tagValue: string;
  /** A key id an earlier attempt reported through `onCreated` (e.g. kept in Temporal heartbeat details). */
  readonly knownKeyId?: string;
  /**
   * Also search the account (ListKeys + ListResourceTags, one call per key): for a repeated call whose earlier
   * attempt may have created a key and died before recording it or giving it its alias.
   */
  readonly search?: boolean;
}

export interface PrepareImportOptions extends OperationOptions {
  /**
   * AWS: called as soon as CreateKey answered, before the alias and the import parameters, with the new key's
   * ARN: record it (a Temporal heartbeat) so that a retry after a crash passes it back as `owner.knownKeyId`.
   */
  readonly onCreated?: (keyId: string) => void | Promise<void>;
}

/** A cloud resource this run created, named so that a failure or a later cleanup can find it. */
export interface CreatedResource {
  /** `aws-kms-alias`: id is the alias name (`alias/<name>`); cleanup deletes it only while it names our key. */
  readonly kind: 'azure-kek' | 'aws-kms-key' | 'aws-kms-alias';
  readonly id: string;
}

/** How the HSM must wrap the target for this preparation. */
export interface WrapInstructions {
  /** `rsa-aes-key-wrap`: CKM_RSA_AES_KEY_WRAP; `rsa-oaep`: the raw key OAEP-encrypted directly (AWS RSAES_OAEP_*). */
  readonly format: 'rsa-aes-key-wrap' | 'rsa-oaep';
  /** OAEP label hash and MGF1 hash alike. */
  readonly oaepHash: CloudOaepHash;
  /** What is wrapped: PKCS#8 PrivateKeyInfo for RSA/EC, the raw bytes for AES/HMAC. */
  readonly encoding: 'pkcs8' | 'raw';
  /** AWS's name for it, when the target is KMS. */
  readonly awsAlgorithm?: AwsWrappingAlgorithm;
}

export interface ImportPreparation {
  readonly cloud: CloudKind;
  /** Vault URL / `aws-kms:<region>[@endpoint]`: a preparation is only valid for the target that made it. */
  readonly location: string;
  readonly keyName: string;
  readonly spec: CloudKeySpec;
  readonly keyOps: readonly KeyOp[];
  /** The RSA public key to wrap to (Azure: the KEK; AWS: GetParametersForImport's PublicKey). */
  readonly kek: {
    /** Azure: the KEK's full key id with version (the `.byok` kid); AWS: the KMS key ARN. */
    readonly id: string;
    readonly publicKeyPem: string;
    /** sha256 hex of the SPKI DER, as approvals and evidence name it. */
    readonly fingerprint: string;
    readonly bits: number;
  };
  readonly wrap: WrapInstructions;
  /** AWS: the KMS key the material goes into (ARN). Azure: absent until import. */
  readonly keyId?: string;
  /** AWS: the alias that names `keyId` (`alias/<name>`), when the request asked for one. */
  readonly alias?: string;
  /** AWS: base64 of the import token (opaque). */
  readonly importToken?: string;
  /** ISO 8601: after this the preparation is useless and the target must be wrapped again. */
  readonly expiresAt?: string;
  /** AWS: this preparation adds new material to an existing symmetric key, then rotates to it. */
  readonly rotation?: boolean;
  readonly created: readonly CreatedResource[];
  /** One line each, for the CLI to print and evidence to keep (e.g. "SHA-1 chosen: the HSM cannot do SHA-256"). */
  readonly notes: readonly string[];
}

export interface ImportWrappedKeyOptions extends OperationOptions {
  /** Azure `.byok` generator field; default `byok-clouds`. */
  readonly generator?: string;
  /** AWS: material expires at this time (KEY_MATERIAL_EXPIRES; whole seconds, at most 365 days). Default: never. */
  readonly validTo?: Date;
  /** Azure: tags of the imported key. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Clock for the expiry check; tests move it. */
  readonly now?: Date;
}

export interface ImportedKey {
  readonly cloud: CloudKind;
  readonly location: string;
  readonly keyName: string;
  /** Azure: full key id with version; AWS: key ARN. */
  readonly keyId: string;
  /** Azure: key version; AWS: KeyMaterialId when the service returns one. */
  readonly version?: string;
  /** AWS: the alias naming the key; verifyImport checks that it resolves to `keyId`. */
  readonly alias?: string;
  readonly spec: CloudKeySpec;
  readonly keyOps: readonly KeyOp[];
  /** RSA/EC: the public key as the cloud reports it. */
  readonly publicKeyPem?: string;
  readonly publicKeyFingerprint?: string;
  readonly notes: readonly string[];
}

/**
 * The HSM's side of verification, as ports so this package never loads PKCS#11: hsm-pkcs11's
 * `TargetKey.publicKey`, `HsmSession.hmac`, `HsmSession.encryptAes` fit directly.
 */
export interface HsmProof {
  /** RSA/EC: the target's public key read from the HSM. */
  readonly publicKey?: KeyObject;
  /** HMAC with the HSM's copy of the key. */
  readonly hmac?: (
    message: Buffer,
    hash: 'sha224' | 'sha256' | 'sha384' | 'sha512',
  ) => Buffer | Promise<Buffer>;
  /** AES-CBC without padding (whole blocks) with the HSM's copy of the key. */
  readonly encryptAesCbc?: (iv: Buffer, plaintext: Buffer) => Buffer | Promise<Buffer>;
}

export interface VerificationCheck {
  /** Stable id: `public-key-equal`, `cloud-sign-hsm-verify`, `hsm-encrypt-cloud-decrypt`, `mac-equal`, ... */
  readonly id: string;
  /** What was compared, one line, no key material. */
  readonly detail: string;
}

export interface Verification {
  readonly keyId: string;
  /** Every check that ran and passed (a failing one throws VERIFICATION_FAILED). */
  readonly checks: readonly VerificationCheck[];
  readonly notes: readonly string[];
}

export interface VerifyImportOptions extends OperationOptions {}

export interface CleanupOptions extends OperationOptions {
  /** Azure: delete the KEK (only one this run created, unless `includeReusedKek`). */
  readonly deleteKek?: boolean;
  readonly includeReusedKek?: boolean;
  /** Azure: purge the deleted KEK as well (needs purge permission; Managed HSM keeps it otherwise). */
  readonly purge?: boolean;
  /** Compensation after a failed ceremony: delete keys this run created (AWS: scheduled deletion). */
  readonly deleteCreatedKey?: boolean;
  /** AWS ScheduleKeyDeletion window, 7..30 days; default 7. */
  readonly pendingWindowInDays?: number;
}

export interface CleanupResult {
  readonly deleted: readonly string[];
  readonly purged: readonly string[];
  readonly scheduledForDeletion: readonly { readonly id: string; readonly deletionDate?: string }[];
  readonly kept: readonly string[];
  readonly notes: readonly string[];
}

export interface ImportTarget {
  readonly cloud: CloudKind;
  readonly location: string;
  /** Creates or checks the KEK (Azure) / the EXTERNAL key and import parameters (AWS). */
  prepareImport(request: PrepareImportRequest, options?: PrepareImportOptions): Promise<ImportPreparation>;
  /** New import parameters for a preparation that expired (AWS); Azure re-checks its KEK. Wrap again after. */
  refreshPreparation(preparation: ImportPreparation, options?: OperationOptions): Promise<ImportPreparation>;
  /** `wrapped`: the CKM_RSA_AES_KEY_WRAP ciphertext (or RSA-OAEP ciphertext for AWS RSAES_OAEP_*). */
  importWrappedKey(
    preparation: ImportPreparation,
    wrapped: Uint8Array,
    options?: ImportWrappedKeyOptions,
  ): Promise<ImportedKey>;
  /** Proves the cloud holds the HSM's key; throws VERIFICATION_FAILED naming the check that failed. */
  verifyImport(imported: ImportedKey, proof: HsmProof, options?: VerifyImportOptions): Promise<Verification>;
  cleanup(preparation: ImportPreparation, options?: CleanupOptions): Promise<CleanupResult>;
  /** Releases sockets (AWS client). */
  close(): void;
}
