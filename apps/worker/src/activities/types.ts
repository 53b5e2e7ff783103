/**
 * The activity contracts of the ceremony: one activity per runbook step, each idempotent (a retry after a
 * crash must find what the first attempt did, not do it twice). Inputs and results are plain JSON and hold
 * no secret: the HSM PIN is read inside the HSM activities from the worker config, key material never
 * leaves the HSM unwrapped, and what does cross (the wrapped key, an AWS import token) is encrypted by
 * the payload codec before it reaches Temporal.
 */
import type { CeremonyKeySpec, CeremonyTarget, HsmSelection, PinnedKek } from '@byok/core/ceremony';

export type OaepHashName = 'sha1' | 'sha256';

export interface HsmStepInput {
  readonly ceremonyId: string;
  readonly hsm: HsmSelection;
  readonly key: CeremonyKeySpec;
}

export interface HsmPreflight {
  readonly tokenLabel: string;
  readonly tokenSerial: string;
  readonly firmware: string;
  /** A key with hsm.keyLabel existed before the ceremony: it must never be destroyed by a compensation. */
  readonly keyExisted: boolean;
  /** SHA-256 of the existing key's SPKI (RSA/EC), for the evidence. */
  readonly existingKeySpkiSha256?: string;
  readonly checks: readonly {
    readonly id: string;
    readonly status: 'pass' | 'warn' | 'fail';
    readonly detail: string;
  }[];
}

export interface CloudPreflight {
  readonly cloud: CeremonyTarget['cloud'];
  /** The target key name/alias is free (or, for AWS keyId, waiting for material). */
  readonly targetAvailable: boolean;
  readonly detail: string;
}

/** What the cloud gave us to wrap to: the KEK (Azure) or the wrapping key + import token (AWS). */
export interface PreparedImport {
  readonly kekId: string;
  /** SPKI PEM of the KEK / wrapping public key. */
  readonly kekPem: string;
  /** SHA-256 of the KEK SPKI DER: checked against a pinned KEK, recorded in evidence. */
  readonly kekSha256: string;
  readonly oaepHash: OaepHashName;
  /** AWS: the wrapping algorithm chosen from the definition's preference list. */
  readonly wrappingAlgorithm?: string;
  /** AWS: GetParametersForImport's token (base64) and its expiry. */
  readonly importToken?: string;
  readonly validUntil?: string;
  /** AWS: the EXTERNAL key created (or given) to receive the material. */
  readonly cloudKeyId?: string;
}

export interface WrapInput extends HsmStepInput {
  readonly kekPem: string;
  readonly oaepHash: OaepHashName;
}

export interface WrappedKey {
  /** RSA-OAEP(KEK, ephemeral AES) || AES-KWP(ephemeral, target), base64url. Not secret without the KEK's private key. */
  readonly ciphertext: string;
  /** SHA-256 (hex) of the ciphertext bytes: names the exact blob in the evidence. */
  readonly ciphertextSha256: string;
  readonly keyLabel: string;
  /** True when this attempt (or an earlier attempt of this ceremony) generated the key. */
  readonly generated: boolean;
  /** SHA-256 of the target's SPKI (RSA/EC): the verify step compares the cloud's public key to it. */
  readonly publicKeySpkiSha256?: string;
  /** Which mechanisms wrapped it (`CKM_RSA_AES_KEY_WRAP with OAEP SHA-1 ...`). */
  readonly wrapDescription: string;
}

export interface ImportInput {
  readonly ceremonyId: string;
  readonly target: CeremonyTarget;
  readonly prepared: PreparedImport;
  readonly wrapped: WrappedKey;
}

export interface ImportedKey {
  /** Azure key id URL with version / AWS key ARN. */
  readonly cloudKeyId: string;
}

export interface VerifyInput {
  readonly ceremonyId: string;
  readonly target: CeremonyTarget;
  readonly imported: ImportedKey;
  readonly hsm: HsmSelection;
  readonly key: CeremonyKeySpec;
  readonly expectedSpkiSha256?: string;
}

export interface Verification {
  readonly method: 'public-key-equality' | 'test-signature' | 'test-encryption';
  readonly detail: string;
}

export interface CleanupInput {
  readonly ceremonyId: string;
  readonly target: CeremonyTarget;
  readonly prepared: PreparedImport;
}

export interface EvidenceInput {
  readonly ceremonyId: string;
  /** `exportAuditJson` output. */
  readonly auditJson: string;
  /** `renderAuditReport` output. */
  readonly auditReport: string;
}

export interface EvidenceFiles {
  readonly jsonPath: string;
  readonly reportPath: string;
}

/** HSM side: implemented (calls @byok/hsm-pkcs11). Runs where the HSM is. */
export interface HsmActivities {
  preflightHsm(input: HsmStepInput): Promise<HsmPreflight>;
  wrapTargetKey(input: WrapInput): Promise<WrappedKey>;
  /** Compensation: destroys a key this ceremony generated (never one that existed before). */
  destroyGeneratedKey(input: HsmStepInput): Promise<void>;
}

/** Cloud side: contracts only until @byok/clouds lands (they fail with CLOUD_NOT_CONFIGURED). */
export interface CloudActivities {
  preflightCloud(input: {
    readonly ceremonyId: string;
    readonly target: CeremonyTarget;
  }): Promise<CloudPreflight>;
  prepareImport(input: {
    readonly ceremonyId: string;
    readonly target: CeremonyTarget;
    readonly pinnedKek?: PinnedKek;
  }): Promise<PreparedImport>;
  importWrappedKey(input: ImportInput): Promise<ImportedKey>;
  verifyImport(input: VerifyInput): Promise<Verification>;
  /** Ephemeral things (the Azure KEK when the policy says so, nothing for AWS). */
  cleanupImport(input: CleanupInput): Promise<void>;
  /** Compensation of prepareImport: deletes the KEK / schedules deletion of the pending EXTERNAL key. */
  discardImport(input: CleanupInput): Promise<void>;
  /** Compensation of importWrappedKey: AWS DeleteImportedKeyMaterial; Azure delete the imported key. */
  revokeImport(input: ImportInput & { readonly imported: ImportedKey }): Promise<void>;
}

/** Evidence: writes the exported audit record, never overwriting. */
export interface EvidenceActivities {
  writeEvidence(input: EvidenceInput): Promise<EvidenceFiles>;
}

export type CeremonyActivities = HsmActivities & CloudActivities & EvidenceActivities;
