/**
 * The ceremony's typed values. Every type here is plain JSON (no Buffer, no Set, no class): a definition
 * travels as a Temporal workflow input and is hashed as canonical JSON, so what is hashed is exactly what
 * the workflow holds.
 */
import type { EcCurveName } from '../types.js';

/** The key the HSM holds and the cloud receives, in JSON form (the core `KeySpec` carries a Buffer). */
export type CeremonyKeySpec =
  | { readonly kind: 'rsa'; readonly bits: number }
  | { readonly kind: 'ec'; readonly bits: number; readonly curve: EcCurveName }
  | { readonly kind: 'aes'; readonly bits: 128 | 192 | 256 };

export const AZURE_KEY_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'] as const;
export type AzureKeyOp = (typeof AZURE_KEY_OPS)[number];
export type AzureKty = 'RSA-HSM' | 'EC-HSM' | 'oct-HSM';

export interface AzureTarget {
  readonly cloud: 'azure';
  /** `https://<name>.vault.azure.net` or `https://<name>.managedhsm.azure.net` (or an emulator), no path. */
  readonly vaultUrl: string;
  readonly keyName: string;
  readonly kty: AzureKty;
  /** JWK `crv` for EC keys (`P-256`, `P-384`, `P-521`, `P-256K`). */
  readonly crv?: string;
  readonly keyOps: readonly AzureKeyOp[];
  /** The key-exchange key the cloud creates for this import (key_ops exactly `["import"]`). */
  readonly kek: {
    readonly name: string;
    readonly bits: 2048 | 3072 | 4096;
    readonly deleteAfterImport: boolean;
  };
}

export const AWS_WRAPPING_ALGORITHMS = [
  'RSA_AES_KEY_WRAP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_1',
  'RSAES_OAEP_SHA_256',
  'RSAES_OAEP_SHA_1',
] as const;
export type AwsWrappingAlgorithm = (typeof AWS_WRAPPING_ALGORITHMS)[number];
export type AwsKeySpec =
  | 'RSA_2048'
  | 'RSA_3072'
  | 'RSA_4096'
  | 'ECC_NIST_P256'
  | 'ECC_NIST_P384'
  | 'ECC_NIST_P521'
  | 'ECC_SECG_P256K1'
  | 'SYMMETRIC_DEFAULT';
export const AWS_KEY_USAGES = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'KEY_AGREEMENT'] as const;
export type AwsKeyUsage = (typeof AWS_KEY_USAGES)[number];

export type AwsExpiration =
  | { readonly model: 'DOES_NOT_EXPIRE' }
  /** `validTo` is an ISO-8601 instant in whole seconds (KMS rejects fractions). */
  | { readonly model: 'KEY_MATERIAL_EXPIRES'; readonly validTo: string };

export interface AwsTarget {
  readonly cloud: 'aws';
  readonly region: string;
  /** A new EXTERNAL-origin key gets this alias (`alias/...`). */
  readonly alias?: string;
  /** An existing EXTERNAL-origin key (id or ARN) waiting for material, instead of creating one. */
  readonly keyId?: string;
  readonly keySpec: AwsKeySpec;
  readonly keyUsage: AwsKeyUsage;
  /** Most preferred first; the worker uses the first one the key type allows. */
  readonly wrappingAlgorithms: readonly AwsWrappingAlgorithm[];
  readonly wrappingKeySpec: 'RSA_2048' | 'RSA_3072' | 'RSA_4096';
  readonly expiration: AwsExpiration;
}

export type CeremonyTarget = AzureTarget | AwsTarget;
export type CloudName = CeremonyTarget['cloud'];

/** The HSM side. Module path, token label and PIN live in the worker's config under `profile`. */
export interface HsmSelection {
  readonly profile: string;
  /** CKA_LABEL of the target key on the token. */
  readonly keyLabel: string;
  /** Generate the key when no key has this label (the original's CKF_CREATE_IF_NOT_FOUND). */
  readonly createIfMissing: boolean;
}

/**
 * A KEK pinned by the requester (an existing cloud KEK). When present it is part of the digest, so
 * approvers approve this very KEK and the worker refuses any other; when absent the KEK created during the
 * ceremony is recorded in the evidence.
 */
export interface PinnedKek {
  readonly id: string;
  /** SHA-256 of the KEK's SubjectPublicKeyInfo DER, lowercase hex. */
  readonly sha256: string;
}

export type ApproverKeyAlgorithm = 'ed25519' | 'p256';

/** An approver's public key, normalised from PEM or JWK. */
export interface ApproverKey {
  readonly alg: ApproverKeyAlgorithm;
  /** Raw public key, base64url: 32 bytes for Ed25519, SEC1 point (33 or 65 bytes) for P-256. */
  readonly raw: string;
}

export interface Approver {
  /** Stable identity (`alice`), also what an approval names. */
  readonly id: string;
  readonly name?: string;
  /** Why this person may approve (`security-officer`, `key-custodian`): shown to auditors. */
  readonly role: string;
  readonly publicKey: ApproverKey;
}

export interface QuorumPolicy {
  /** M: approvals needed. */
  readonly required: number;
  /** N: the named approvers. */
  readonly approvers: readonly Approver[];
  /** How long after the ceremony opens approvals are accepted; unused approvals expire with it. */
  readonly windowMs: number;
  /** True: one valid rejection ends the ceremony. False: rejections only count against reachability. */
  readonly vetoOnReject: boolean;
}

export interface CeremonyDefinition {
  readonly version: 1;
  /** Unique per ceremony (the Temporal workflow id); part of the digest, so approvals cannot be replayed. */
  readonly ceremonyId: string;
  readonly requester: string;
  readonly description?: string;
  readonly key: CeremonyKeySpec;
  readonly target: CeremonyTarget;
  readonly hsm: HsmSelection;
  readonly kek?: PinnedKek;
  readonly quorum: QuorumPolicy;
  readonly deadlines: {
    /** The whole ceremony, approvals included: past it the workflow compensates and fails. */
    readonly overallMs: number;
  };
}

export type Decision = 'approve' | 'reject';

/** What an approver sends: a decision and a signature over `approvalMessage(digest, decision)`. */
export interface Approval {
  readonly approverId: string;
  readonly decision: Decision;
  /** Base64 or base64url. Ed25519: 64 bytes; P-256: 64-byte r||s or DER, over SHA-256 of the message. */
  readonly signature: string;
  /** The digest the approver believes they sign; lets a mismatch be named instead of "bad signature". */
  readonly digest?: string;
  readonly comment?: string;
}

/** An accepted decision as the ceremony keeps it. */
export interface ApprovalRecord extends Approval {
  /** Epoch milliseconds (workflow time) when it was accepted. */
  readonly receivedAt: number;
}

/** The quorum as the workflow holds it: pure data, updated only through `recordApproval`. */
export interface QuorumState {
  readonly ceremonyId: string;
  readonly requester: string;
  /** Hex SHA-256 from `ceremonyDigest`: what every signature must cover. */
  readonly digest: string;
  readonly policy: QuorumPolicy;
  /** Epoch milliseconds when approvals started being accepted. */
  readonly openedAt: number;
  readonly decisions: readonly ApprovalRecord[];
  /** Set when the ceremony stops collecting for a reason other than quorum (cancelled, failed). */
  readonly closed?: string;
}

export type QuorumStatus =
  | {
      readonly kind: 'pending';
      readonly approvals: number;
      readonly required: number;
      readonly closesAt: number;
    }
  | { readonly kind: 'reached'; readonly approvals: number; readonly required: number }
  | { readonly kind: 'vetoed'; readonly by: string }
  /** Too many rejections: even if every remaining approver approves, M cannot be met. */
  | {
      readonly kind: 'unreachable';
      readonly approvals: number;
      readonly required: number;
      readonly remaining: number;
    }
  | {
      readonly kind: 'expired';
      readonly approvals: number;
      readonly required: number;
      readonly closedAt: number;
    }
  | { readonly kind: 'closed'; readonly reason: string };

export const APPROVAL_REJECTIONS = [
  'APPROVAL_MALFORMED',
  'APPROVAL_CLOSED',
  'APPROVER_IS_REQUESTER',
  'APPROVER_NOT_ELIGIBLE',
  'APPROVER_DUPLICATE',
  'APPROVAL_NOT_YET_OPEN',
  'APPROVAL_EXPIRED',
  'APPROVAL_DIGEST_MISMATCH',
  'APPROVAL_SIGNATURE_INVALID',
] as const;
export type ApprovalRejectionCode = (typeof APPROVAL_REJECTIONS)[number];

export type ApprovalVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: ApprovalRejectionCode; readonly reason: string };
