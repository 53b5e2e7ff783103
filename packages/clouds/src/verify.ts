/**
 * The HSM side of verification, in node:crypto: a signature the cloud made must verify under the public key
 * the HSM holds. Nothing here talks to a cloud.
 */
import { createHash, type KeyObject, randomBytes, verify } from 'node:crypto';
import { publicKeysEqual, spkiFingerprint } from '@byok/core';
import { type CloudName, cloudError } from './errors.js';
import type { CloudKeySpec, HsmProof, VerificationCheck } from './types.js';

export type DigestName = 'sha256' | 'sha384' | 'sha512';

/** The hash each curve signs with in both clouds (ES256/ES384/ES512/ES256K; ECDSA_SHA_256/384/512). */
export function signatureHash(spec: CloudKeySpec): DigestName {
  if (spec.kind === 'ec' && spec.curve === 'P-384') return 'sha384';
  if (spec.kind === 'ec' && spec.curve === 'P-521') return 'sha512';
  return 'sha256';
}

/** A fresh message per verification, so a recorded signature proves nothing about another run. */
export function challenge(label: string): Buffer {
  return Buffer.concat([Buffer.from(`byok verification ${label} `), randomBytes(32)]);
}

export function digest(hash: DigestName, message: Buffer): Buffer {
  return createHash(hash).update(message).digest();
}

export function requireHsmPublicKey(proof: HsmProof, cloud: CloudName, what: string): KeyObject {
  if (!proof.publicKey) {
    throw cloudError(
      'VERIFY_PROOF_MISSING',
      cloud,
      `verifying ${what} needs the HSM's public key (proof.publicKey)`,
    );
  }
  return proof.publicKey;
}

export function comparePublicKeys(
  cloudKey: KeyObject,
  hsmKey: KeyObject,
  cloud: CloudName,
  keyId: string,
): VerificationCheck {
  if (!publicKeysEqual(cloudKey, hsmKey)) {
    throw cloudError(
      'VERIFICATION_FAILED',
      cloud,
      `the public key of ${keyId} (${spkiFingerprint(cloudKey)}) is not the HSM's (${spkiFingerprint(hsmKey)}): ` +
        'another key was imported',
    );
  }
  return {
    id: 'public-key-equal',
    detail: `cloud and HSM public keys are equal (SPKI sha256 ${spkiFingerprint(hsmKey)})`,
  };
}

/**
 * Checks a cloud-made signature with the HSM's public key. `dsaEncoding`: Azure returns ECDSA as r||s (JOSE),
 * KMS as DER. RSA signatures are PKCS#1 v1.5.
 */
export function checkCloudSignature(opts: {
  readonly hsmKey: KeyObject;
  readonly hash: DigestName;
  readonly message: Buffer;
  readonly signature: Buffer;
  readonly dsaEncoding: 'der' | 'ieee-p1363';
  readonly cloud: CloudName;
  readonly keyId: string;
  readonly algorithm: string;
}): VerificationCheck {
  const key =
    opts.hsmKey.asymmetricKeyType === 'ec'
      ? { key: opts.hsmKey, dsaEncoding: opts.dsaEncoding }
      : opts.hsmKey;
  let ok = false;
  try {
    ok = verify(opts.hash, opts.message, key, opts.signature);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw cloudError(
      'VERIFICATION_FAILED',
      opts.cloud,
      `a ${opts.algorithm} signature made by ${opts.keyId} does not verify under the HSM's public key`,
    );
  }
  return {
    id: 'cloud-sign-hsm-verify',
    detail: `${opts.algorithm} signature by the cloud key verified with the HSM's public key in node:crypto`,
  };
}

export function equalOrFail(
  a: Buffer,
  b: Buffer,
  cloud: CloudName,
  id: string,
  failure: string,
  success: string,
): VerificationCheck {
  if (!a.equals(b)) throw cloudError('VERIFICATION_FAILED', cloud, failure);
  return { id, detail: success };
}
