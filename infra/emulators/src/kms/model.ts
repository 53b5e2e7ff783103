/** What the KMS emulator stores. Times are epoch milliseconds of the emulator's (movable) clock. */
import type { KeySpec, KeyUsage, Origin, WrappingAlgorithm, WrappingKeySpec } from './specs.js';

export type ExpirationModel = 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
export type KeyMaterialState = 'CURRENT' | 'NON_CURRENT' | 'PENDING_ROTATION';

export interface KeyMaterialRecord {
  /** KeyMaterialId: sha256(key id || material), so re-imports of the same bytes are recognised. */
  readonly id: string;
  /** base64 of symmetric / HMAC key bytes. */
  readonly secret?: string;
  /** PKCS#8 PEM of RSA / ECC private keys. */
  readonly privateKeyPem?: string;
  state: KeyMaterialState;
  /** false once deleted (DeleteImportedKeyMaterial) or expired: an EXTERNAL key then needs the same bytes again. */
  imported: boolean;
  expirationModel?: ExpirationModel;
  validTo?: number;
  rotationDate?: number;
  description?: string;
}

export interface KmsKeyRecord {
  readonly keyId: string;
  readonly arn: string;
  readonly createdAt: number;
  readonly description: string;
  readonly keySpec: KeySpec;
  readonly keyUsage: KeyUsage;
  readonly origin: Origin;
  enabled: boolean;
  deletionDate?: number;
  pendingWindowInDays?: number;
  materials: KeyMaterialRecord[];
  /** CreateKey's Tags (TagResource / UntagResource change them); absent in state written before tags. */
  tags?: TagRecord[];
}

export interface TagRecord {
  readonly TagKey: string;
  readonly TagValue: string;
}

/** An alias (`alias/<name>`), stored by its name. */
export interface AliasRecord {
  readonly aliasName: string;
  /** The key id (not the ARN) it points to. */
  targetKeyId: string;
  readonly createdAt: number;
  updatedAt: number;
}

export interface ImportTokenRecord {
  readonly keyId: string;
  readonly algorithm: WrappingAlgorithm;
  readonly wrappingKeySpec: WrappingKeySpec;
  readonly wrappingPrivateKeyPem: string;
  readonly validTo: number;
}

export interface KmsState {
  readonly formatVersion: 1;
  readonly keys: Record<string, KmsKeyRecord>;
  /** By token id (hex), the part of the import token after its magic prefix. */
  readonly tokens: Record<string, ImportTokenRecord>;
  /** By alias name; absent in state written before aliases (filled in by parseKmsState). */
  readonly aliases: Record<string, AliasRecord>;
}

export function parseKmsState(value: unknown): KmsState {
  if (
    typeof value !== 'object' ||
    value === null ||
    !('formatVersion' in value) ||
    value.formatVersion !== 1 ||
    !('keys' in value) ||
    !('tokens' in value)
  ) {
    throw new Error('not a KMS emulator state (formatVersion 1)');
  }
  const state = value as Omit<KmsState, 'aliases'> & { aliases?: Record<string, AliasRecord> };
  return { ...state, aliases: state.aliases ?? {} };
}
