import type { KeyObject } from 'node:crypto';
import type { KeySpec, OaepHash } from '@byok/core';

/** A token as found in a slot. `slotId` changes when SoftHSM re-initialises: find tokens by label. */
export interface TokenInfo {
  readonly slotId: number;
  readonly label: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly serialNumber: string;
  /** `major.minor` of the token's firmware, as the original prints it in `generator`. */
  readonly firmware: string;
}

/** What the module can do with one mechanism on one token (C_GetMechanismInfo). */
export interface MechanismInfo {
  readonly type: number;
  readonly minKeySize: number;
  readonly maxKeySize: number;
  readonly flags: number;
}

/** A target key found or generated on the token. Handles are only valid in the session that made them. */
export interface TargetKey {
  readonly label: string;
  readonly id: Buffer;
  readonly spec: KeySpec;
  /** Handle of the private (RSA/EC) or secret (AES) key object: what gets wrapped. */
  readonly handle: Buffer;
  /** Handle of the public key object for RSA/EC, when one exists on the token. */
  readonly publicHandle?: Buffer;
  /** Public key read back from the token (RSA/EC); undefined for AES. */
  readonly publicKey?: KeyObject;
  readonly extractable: boolean;
  readonly sensitive: boolean;
  readonly token: boolean;
  readonly private: boolean;
  readonly wrapWithTrusted: boolean;
  /** True when this run generated it (so a failure later may destroy it). */
  readonly generated: boolean;
}

/** The KEK public key imported as a session object. */
export interface KekHandle {
  readonly handle: Buffer;
  readonly modulusBits: number;
}

/** The concrete PKCS#11 calls a wrap will make on this module, decided before anything is generated. */
export interface WrapPlan {
  readonly kind: 'one-step' | 'two-step';
  readonly oaepHash: OaepHash;
  /** CKM_RSA_AES_KEY_WRAP (0x1054) or a vendor equivalent, for one-step. */
  readonly oneStepMechanism?: number;
  /** The mechanism implementing RFC 5649 on this module (0x80000171, 0x210B, 0x210A), for two-step. */
  readonly kwpMechanism?: number;
  /** Human name of what was picked, for the INFO line (`CKM_AES_KEY_WRAP_PAD (0x0000210A) as RFC 5649`). */
  readonly description: string;
}

export type VerdictStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** One row of the preflight table: a partition policy or key attribute checked, and how to fix a failure. */
export interface PolicyVerdict {
  /** Stable id (`luna.policy.1`, `mechanism.wrap`, `key.extractable`, ...). */
  readonly id: string;
  /** What was checked, as a custodian names it (`partition policy 1 "Allow private key wrapping"`). */
  readonly subject: string;
  readonly status: VerdictStatus;
  /** What was found (`off`, `CKA_EXTRACTABLE=false`). */
  readonly detail: string;
  /** How to fix a failure (`lunacm: partition changePolicy -policy 1 -value 1`). */
  readonly fix?: string;
}

/** A key object found by label, before its attributes are checked against the spec (`loadTargetKey`). */
export interface FoundKey {
  readonly handle: Buffer;
  /** CKO_PRIVATE_KEY (RSA/EC) or CKO_SECRET_KEY (AES). */
  readonly objectClass: 'private' | 'secret';
  /** CKA_KEY_TYPE (CKK_RSA, CKK_EC, CKK_AES, ...). */
  readonly keyType: number;
  readonly label: string;
  readonly id: Buffer;
  readonly token: boolean;
  readonly private: boolean;
}
