/**
 * The ceremony digest: SHA-256 over the canonical JSON of every parameter of the validated definition
 * (ceremony id, requester, target, key spec, HSM profile and label, pinned KEK, quorum policy, deadlines),
 * under a domain tag. Approvers sign it, so an approval cannot be replayed onto another ceremony (the id
 * differs) or onto a changed one (any parameter differs).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from './bytes.js';
import { canonicalJson } from './canonical.js';
import type { CeremonyDefinition } from './types.js';

/** Versioned: a future change of what is hashed changes the tag, never silently the meaning of old digests. */
export const CEREMONY_DIGEST_DOMAIN = 'byok-ceremony-parameters/v1';

/** Exactly what is hashed, for the evidence report ("the approvers signed this"). */
export function digestInput(definition: CeremonyDefinition): {
  readonly domain: string;
  readonly ceremony: CeremonyDefinition;
} {
  return { domain: CEREMONY_DIGEST_DOMAIN, ceremony: definition };
}

/** Lowercase hex SHA-256 of `canonicalJson(digestInput(definition))`. */
export function ceremonyDigest(definition: CeremonyDefinition): string {
  return sha256Hex(canonicalJson(digestInput(definition)));
}

export function sha256Hex(text: string): string {
  return toHex(sha256(utf8(text)));
}
