/**
 * Node-side helpers for approvers (the CLI, the dashboard's tests): make a key pair, sign a decision.
 * node:crypto lives here only; what verifies runs in the workflow sandbox (approval.ts) and never imports this.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { ByokError } from '../errors.js';
import { approvalMessage } from './approval.js';
import { toBase64Url } from './bytes.js';
import type { Approval, ApproverKeyAlgorithm, Decision } from './types.js';

export interface ApproverKeyPair {
  readonly alg: ApproverKeyAlgorithm;
  /** PKCS#8 PEM: stays with the approver. */
  readonly privateKeyPem: string;
  /** SPKI PEM: goes into the ceremony definition. */
  readonly publicKeyPem: string;
}

export function generateApproverKeyPair(alg: ApproverKeyAlgorithm): ApproverKeyPair {
  const pair =
    alg === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    alg,
    privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Base64url signature over `approvalMessage(digest, decision)` with an Ed25519 or P-256 private key. */
export function signApprovalMessage(
  privateKey: string | KeyObject,
  digest: string,
  decision: Decision,
): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const message = approvalMessage(digest, decision);
  if (key.asymmetricKeyType === 'ed25519') return toBase64Url(sign(null, message, key));
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return toBase64Url(sign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }));
  }
  throw new ByokError(
    'APPROVAL_KEY_UNSUPPORTED',
    'approvers sign with an Ed25519 or ECDSA P-256 private key',
  );
}

/** A complete approval ready to send as the `approve`/`reject` Update. */
export function createApproval(args: {
  readonly approverId: string;
  readonly decision: Decision;
  readonly digest: string;
  readonly privateKey: string | KeyObject;
  readonly comment?: string;
}): Approval {
  return {
    approverId: args.approverId,
    decision: args.decision,
    digest: args.digest,
    signature: signApprovalMessage(args.privateKey, args.digest, args.decision),
    ...(args.comment === undefined ? {} : { comment: args.comment }),
  };
}
