import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type ByokBlob,
  decodeByokBlob,
  type KeyMaterial,
  type KeySpec,
  type OaepHash,
  parseKeyMaterial,
  publicKeysEqual,
  rsaAesKeyUnwrap,
} from '@byok/core';

export interface ProveOptions {
  /** The OAEP hash the blob must have been made with (Azure: 'sha1'). */
  readonly oaepHash: OaepHash;
  /** The HSM's public key of the target; the unwrapped private key must belong to it. */
  readonly expectedPublicKey?: KeyObject;
  /** What the blob must contain: a full KeySpec also checks size and curve. */
  readonly spec: KeySpec | 'rsa' | 'ec' | 'aes' | 'hmac';
}

export class ProofError extends Error {
  readonly code = 'TESTKIT_PROOF_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'ProofError';
  }
}

/**
 * Does what the cloud does on import, with the test's stand-in KEK: unwraps a CKM_RSA_AES_KEY_WRAP blob and
 * checks the key inside is of the expected kind and, when given, matches the HSM's public key.
 * Throws (core's ByokError for a malformed blob, ProofError for a different key) rather than returning false,
 * so a test cannot forget to look at the answer.
 */
export function proveWrappedKey(wrapped: Buffer, kekPrivate: KeyObject, opts: ProveOptions): KeyMaterial {
  const bytes = rsaAesKeyUnwrap(kekPrivate, wrapped, { oaepHash: opts.oaepHash });
  const material = parseKeyMaterial(bytes, opts.spec);
  if (opts.expectedPublicKey !== undefined) {
    if (material.kind === 'aes' || material.kind === 'hmac') {
      throw new ProofError(
        `the blob holds an ${material.kind.toUpperCase()} key; there is no public key to compare with expectedPublicKey`,
      );
    }
    if (!publicKeysEqual(material.publicKey, opts.expectedPublicKey)) {
      throw new ProofError("the wrapped private key does not belong to the HSM's public key");
    }
  }
  return material;
}

/** proveWrappedKey for a targetBlob.byok file; the decoded blob comes back alongside the key material. */
export async function proveByokFile(
  path: string,
  kekPrivate: KeyObject,
  opts: ProveOptions,
): Promise<KeyMaterial & { readonly blob: ByokBlob }> {
  const blob = decodeByokBlob(await readFile(path));
  return { ...proveWrappedKey(blob.ciphertext, kekPrivate, opts), blob };
}
