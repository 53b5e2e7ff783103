/**
 * M-of-N approval rules. Pure, synchronous and deterministic: the workflow calls `validateApproval` from an
 * Update validator (which must be synchronous to reject anything) with workflow time as `now`, so a
 * rejected approval never reaches the history. Signatures are checked with @noble/curves, not node:crypto,
 * because this runs inside the workflow sandbox.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { ByokError } from '../errors.js';
import { fromBase64, utf8 } from './bytes.js';
import { ceremonyDigest } from './digest.js';
import type {
  Approval,
  ApprovalRecord,
  ApprovalRejectionCode,
  ApprovalVerdict,
  Approver,
  CeremonyDefinition,
  Decision,
  QuorumState,
  QuorumStatus,
} from './types.js';

export const APPROVAL_MESSAGE_PREFIX = 'byok-ceremony-approval/v1';
const MAX_COMMENT = 1000;

/**
 * The bytes an approver signs: `byok-ceremony-approval/v1 <decision> <digest>`. The decision is inside, so
 * an approval cannot be turned into a rejection or the reverse; the digest binds it to one ceremony.
 * One readable line, so it can also be signed by hand (`openssl pkeyutl -sign -rawin` for Ed25519,
 * `openssl dgst -sha256 -sign` for P-256).
 */
export function approvalMessage(digest: string, decision: Decision): Uint8Array {
  return utf8(approvalMessageText(digest, decision));
}

export function approvalMessageText(digest: string, decision: Decision): string {
  return `${APPROVAL_MESSAGE_PREFIX} ${decision} ${digest}`;
}

/** A fresh quorum for a definition whose digest has been computed, opening at `openedAt` (epoch ms). */
export function openQuorum(definition: CeremonyDefinition, digest: string, openedAt: number): QuorumState {
  return {
    ceremonyId: definition.ceremonyId,
    requester: definition.requester,
    digest,
    policy: definition.quorum,
    openedAt,
    decisions: [],
  };
}

/** Approvers who may still count: named in the policy and not the requester. */
export function eligibleApprovers(state: QuorumState): readonly Approver[] {
  return state.policy.approvers.filter((a) => a.id !== state.requester);
}

/**
 * Where the quorum stands at `now` (epoch ms; omit it to ignore the window). Order matters: a veto beats
 * everything, then quorum, then unreachability, then expiry.
 */
export function quorumStatus(state: QuorumState, now?: number): QuorumStatus {
  if (state.closed !== undefined) return { kind: 'closed', reason: state.closed };
  const required = state.policy.required;
  const veto = state.policy.vetoOnReject ? state.decisions.find((d) => d.decision === 'reject') : undefined;
  if (veto) return { kind: 'vetoed', by: veto.approverId };
  const approvals = state.decisions.filter((d) => d.decision === 'approve').length;
  if (approvals >= required) return { kind: 'reached', approvals, required };
  const decided = new Set(state.decisions.map((d) => d.approverId));
  const remaining = eligibleApprovers(state).filter((a) => !decided.has(a.id)).length;
  if (approvals + remaining < required) return { kind: 'unreachable', approvals, required, remaining };
  const closesAt = state.openedAt + state.policy.windowMs;
  if (now !== undefined && now > closesAt)
    return { kind: 'expired', approvals, required, closedAt: closesAt };
  return { kind: 'pending', approvals, required, closesAt };
}

/** True once M distinct eligible approvers approved and nobody vetoed. */
export function quorumReached(state: QuorumState): boolean {
  return quorumStatus(state).kind === 'reached';
}

function reject(code: ApprovalRejectionCode, reason: string): ApprovalVerdict {
  return { ok: false, code, reason };
}

/**
 * Checks one approval against the current quorum at `now` (epoch ms). Every rule has its own code; the
 * reason is one sentence for the approver. Never throws, whatever `approval` holds.
 */
export interface ValidateOptions {
  /**
   * The signature of this very approval object was already verified against this state's digest (the
   * workflow's Update validator ran just before its handler): only the state-dependent rules are checked
   * again. The signature never depends on the state, so this skips only repeated curve arithmetic.
   */
  readonly signatureVerified?: boolean;
}

export function validateApproval(
  state: QuorumState,
  approval: Approval,
  now: number,
  options: ValidateOptions = {},
): ApprovalVerdict {
  const shape = shapeProblem(approval);
  if (shape) return reject('APPROVAL_MALFORMED', shape);

  const status = quorumStatus(state, now);
  switch (status.kind) {
    case 'closed':
      return reject(
        'APPROVAL_CLOSED',
        `ceremony ${state.ceremonyId} no longer takes approvals: ${status.reason}`,
      );
    case 'vetoed':
      return reject('APPROVAL_CLOSED', `ceremony ${state.ceremonyId} was vetoed by ${status.by}`);
    case 'reached':
      return reject(
        'APPROVAL_CLOSED',
        `ceremony ${state.ceremonyId} already has its ${status.required} approvals`,
      );
    case 'unreachable':
      return reject(
        'APPROVAL_CLOSED',
        `ceremony ${state.ceremonyId} can no longer reach ${status.required} approvals (too many rejections)`,
      );
    case 'expired':
      return reject(
        'APPROVAL_EXPIRED',
        `the approval window of ceremony ${state.ceremonyId} closed at ${new Date(status.closedAt).toISOString()}`,
      );
    case 'pending':
      break;
  }

  const who = approval.approverId;
  if (who === state.requester) {
    return reject(
      'APPROVER_IS_REQUESTER',
      `${who} requested ceremony ${state.ceremonyId} and cannot approve it`,
    );
  }
  const approver = state.policy.approvers.find((a) => a.id === who);
  if (!approver) {
    return reject(
      'APPROVER_NOT_ELIGIBLE',
      `${JSON.stringify(who)} is not an approver of ceremony ${state.ceremonyId}`,
    );
  }
  const earlier = state.decisions.find((d) => d.approverId === who);
  if (earlier) {
    return reject(
      'APPROVER_DUPLICATE',
      `${who} already decided (${earlier.decision}) on ceremony ${state.ceremonyId}`,
    );
  }
  if (now < state.openedAt) {
    return reject(
      'APPROVAL_NOT_YET_OPEN',
      `ceremony ${state.ceremonyId} opens for approvals at ${iso(state.openedAt)}`,
    );
  }
  if (approval.digest !== undefined && approval.digest.toLowerCase() !== state.digest) {
    return reject(
      'APPROVAL_DIGEST_MISMATCH',
      `${who} signed digest ${short(approval.digest)} but ceremony ${state.ceremonyId} has digest ${short(state.digest)} ` +
        '(another ceremony, or this one changed)',
    );
  }
  if (!options.signatureVerified && !verifySignature(approver, approval, state.digest)) {
    return reject(
      'APPROVAL_SIGNATURE_INVALID',
      `${who}'s ${approval.decision} signature does not verify with their ${approver.publicKey.alg} key over ` +
        `digest ${short(state.digest)} of ceremony ${state.ceremonyId}`,
    );
  }
  return { ok: true };
}

/**
 * The state after an approval: validates it first and throws ByokError(code) when it is refused, so a
 * caller cannot record what the validator would have rejected.
 */
export function recordApproval(
  state: QuorumState,
  approval: Approval,
  now: number,
  options: ValidateOptions = {},
): QuorumState {
  const verdict = validateApproval(state, approval, now, options);
  if (!verdict.ok) throw new ByokError(verdict.code, verdict.reason);
  const record: ApprovalRecord = {
    approverId: approval.approverId,
    decision: approval.decision,
    signature: approval.signature,
    ...(approval.digest === undefined ? {} : { digest: approval.digest.toLowerCase() }),
    ...(approval.comment === undefined ? {} : { comment: approval.comment }),
    receivedAt: now,
  };
  return { ...state, decisions: [...state.decisions, record] };
}

/** Stops collecting (cancelled, overall deadline): later approvals get APPROVAL_CLOSED with `reason`. */
export function closeQuorum(state: QuorumState, reason: string): QuorumState {
  return { ...state, closed: reason };
}

let baseWindowSet = false;

/**
 * The base points' precomputed tables with 4-bit windows instead of noble's default 8: a table of 512
 * points instead of 4,096. Inside a Temporal workflow every ceremony evaluates this module afresh (the SDK
 * gives each workflow its own module instances), so the table is rebuilt per ceremony and its size, not
 * the verification itself, dominated the approval's cost (bench/ceremony.mjs). Same results, different
 * speed only.
 */
function smallBaseWindows(): void {
  if (baseWindowSet) return;
  baseWindowSet = true;
  ed25519.Point.BASE.precompute(4, true);
  p256.Point.BASE.precompute(4, true);
}

/** The signature must cover the ceremony's own digest, whatever digest the approval claims. */
function verifySignature(approver: Approver, approval: Approval, digest: string): boolean {
  smallBaseWindows();
  const signature = fromBase64(approval.signature);
  const publicKey = fromBase64(approver.publicKey.raw);
  if (!signature || !publicKey) return false;
  const message = approvalMessage(digest, approval.decision);
  try {
    if (approver.publicKey.alg === 'ed25519') {
      return signature.length === 64 && ed25519.verify(signature, message, publicKey);
    }
    // Compact r||s from WebCrypto/noble, DER from openssl; high-S accepted (openssl does not normalise),
    // which is harmless here: duplicates are refused by approver, not by signature bytes.
    const format = signature.length === 64 ? 'compact' : 'der';
    return p256.verify(signature, message, publicKey, { prehash: true, lowS: false, format });
  } catch {
    return false;
  }
}

function shapeProblem(approval: unknown): string | undefined {
  if (typeof approval !== 'object' || approval === null || Array.isArray(approval))
    return 'an approval must be an object';
  const a = approval as Record<string, unknown>;
  if (typeof a.approverId !== 'string' || a.approverId.length === 0)
    return 'approverId must be a non-empty string';
  if (a.decision !== 'approve' && a.decision !== 'reject') return 'decision must be "approve" or "reject"';
  if (typeof a.signature !== 'string' || a.signature.length === 0)
    return 'signature must be a non-empty base64 string';
  if (a.digest !== undefined && (typeof a.digest !== 'string' || !/^[0-9a-fA-F]{64}$/.test(a.digest))) {
    return 'digest, when given, must be 64 hex characters';
  }
  if (a.comment !== undefined && (typeof a.comment !== 'string' || a.comment.length > MAX_COMMENT)) {
    return `comment, when given, must be a string of at most ${MAX_COMMENT} characters`;
  }
  return undefined;
}

function short(digest: string): string {
  return `${digest.slice(0, 12)}...`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The quorum re-established from scratch, for the step that acts on it (the HSM wrap): the ceremony's digest
 * recomputed from its definition, then every recorded decision replayed through `recordApproval` at the
 * time it was received, signature included. Throws ByokError(code) on the first decision the rules refuse,
 * and QUORUM_NOT_REACHED when the approvals do not add up: a workflow that reached this step with a forged,
 * duplicated or late approval is stopped here, outside the workflow's own checks.
 */
export function verifyQuorumRecord(
  definition: CeremonyDefinition,
  openedAt: number,
  decisions: readonly ApprovalRecord[],
): QuorumState {
  let state = openQuorum(definition, ceremonyDigest(definition), openedAt);
  for (const d of decisions) {
    const approval: Approval = {
      approverId: d.approverId,
      decision: d.decision,
      signature: d.signature,
      ...(d.digest === undefined ? {} : { digest: d.digest }),
      ...(d.comment === undefined ? {} : { comment: d.comment }),
    };
    state = recordApproval(state, approval, d.receivedAt);
  }
  const status = quorumStatus(state, openedAt);
  if (status.kind !== 'reached') {
    throw new ByokError(
      'QUORUM_NOT_REACHED',
      `ceremony ${definition.ceremonyId} has ${state.decisions.filter((d) => d.decision === 'approve').length} ` +
        `valid approvals of the ${definition.quorum.required} required (${status.kind})`,
    );
  }
  return state;
}
