import { createPrivateKey, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  approvalMessageText,
  closeQuorum,
  openQuorum,
  quorumReached,
  quorumStatus,
  recordApproval,
  validateApproval,
  verifyQuorumRecord,
} from '../src/ceremony/approval.js';
import { validateCeremonyDefinition } from '../src/ceremony/definition.js';
import { ceremonyDigest } from '../src/ceremony/digest.js';
import { createApproval, signApprovalMessage } from '../src/ceremony/signing.js';
import type { Approval, ApprovalRejectionCode, Decision, QuorumState } from '../src/ceremony/types.js';
import { ByokError } from '../src/errors.js';
import { azureRaw, KEYS, withChange } from './ceremony-fixtures.js';

const OPENED = Date.parse('2025-11-01T09:00:00Z');
const LATER = OPENED + 60_000;

function ceremony(change: (r: Record<string, unknown>) => Record<string, unknown> = (r) => r): QuorumState {
  const def = validateCeremonyDefinition(change(azureRaw()));
  return deepFreeze(openQuorum(def, ceremonyDigest(def), OPENED));
}

function approval(who: keyof typeof KEYS, state: QuorumState, decision: Decision = 'approve'): Approval {
  return createApproval({
    approverId: who,
    decision,
    digest: state.digest,
    privateKey: KEYS[who].privateKeyPem,
  });
}

function refused(
  state: QuorumState,
  a: Approval,
  now = LATER,
): { code: ApprovalRejectionCode; reason: string } {
  const verdict = validateApproval(state, a, now);
  if (verdict.ok) throw new Error('approval was accepted');
  expect(verdict.reason).not.toContain('\n');
  return { code: verdict.code, reason: verdict.reason };
}

describe('approval rules: each refusal has its own code and reason', () => {
  const state = ceremony();

  it('accepts a valid Ed25519 approval and a valid P-256 approval (compact and DER)', () => {
    expect(validateApproval(state, approval('alice', state), LATER)).toEqual({ ok: true });
    expect(validateApproval(state, approval('bob', state), LATER)).toEqual({ ok: true });
    // openssl dgst -sha256 -sign writes DER: accepted too.
    const der = sign('sha256', Buffer.from(approvalMessageText(state.digest, 'approve')), {
      key: createPrivateKey(KEYS.bob.privateKeyPem),
      dsaEncoding: 'der',
    }).toString('base64');
    expect(
      validateApproval(state, { approverId: 'bob', decision: 'approve', signature: der }, LATER),
    ).toEqual({ ok: true });
  });

  it('refuses self-approval by the requester, listed as approver or not', () => {
    expect(refused(state, approval('dave', state))).toMatchObject({
      code: 'APPROVER_IS_REQUESTER',
      reason: 'dave requested ceremony cer-2025-0001 and cannot approve it',
    });
    const carolRequests = ceremony((r) => withChange(r, 'requester', 'carol'));
    expect(refused(carolRequests, approval('carol', carolRequests)).code).toBe('APPROVER_IS_REQUESTER');
  });

  it('refuses someone not in the policy', () => {
    const mallory = { ...approval('alice', state), approverId: 'mallory' };
    expect(refused(state, mallory)).toEqual({
      code: 'APPROVER_NOT_ELIGIBLE',
      reason: '"mallory" is not an approver of ceremony cer-2025-0001',
    });
  });

  it('refuses a second decision by the same approver', () => {
    const after = recordApproval(state, approval('alice', state), LATER);
    expect(refused(after, approval('alice', state))).toEqual({
      code: 'APPROVER_DUPLICATE',
      reason: 'alice already decided (approve) on ceremony cer-2025-0001',
    });
    expect(refused(after, approval('alice', state, 'reject')).code).toBe('APPROVER_DUPLICATE');
  });

  it('refuses a signature made with another key, a garbled one, or one for the other decision', () => {
    const withCarolsKey = createApproval({
      approverId: 'alice',
      decision: 'approve',
      digest: state.digest,
      privateKey: KEYS.carol.privateKeyPem,
    });
    const r = refused(state, withCarolsKey);
    expect(r.code).toBe('APPROVAL_SIGNATURE_INVALID');
    expect(r.reason).toMatch(
      /^alice's approve signature does not verify with their ed25519 key over digest [0-9a-f]{12}\.\.\./,
    );
    expect(refused(state, { ...approval('bob', state), signature: 'not base64 !' }).code).toBe(
      'APPROVAL_SIGNATURE_INVALID',
    );
    expect(refused(state, { ...approval('bob', state), signature: 'AAAA' }).code).toBe(
      'APPROVAL_SIGNATURE_INVALID',
    );
    const flipped: Approval = { ...approval('alice', state, 'reject'), decision: 'approve' };
    expect(refused(state, flipped).code).toBe('APPROVAL_SIGNATURE_INVALID');
  });

  it('with signatureVerified (the Update handler after its validator) skips only the signature check', () => {
    const garbled: Approval = { ...approval('alice', state), signature: 'AAAA' };
    expect(validateApproval(state, garbled, LATER, { signatureVerified: true })).toEqual({ ok: true });
    const after = recordApproval(state, approval('alice', state), LATER, { signatureVerified: true });
    // The state rules still hold: the same approver twice, an ineligible one, the requester.
    expect(
      validateApproval(after, approval('alice', state), LATER, { signatureVerified: true }),
    ).toMatchObject({
      code: 'APPROVER_DUPLICATE',
    });
    expect(
      validateApproval(state, { ...approval('alice', state), approverId: 'mallory' }, LATER, {
        signatureVerified: true,
      }),
    ).toMatchObject({ code: 'APPROVER_NOT_ELIGIBLE' });
  });

  it("refuses an approval signed over another ceremony's digest, or over this one before it changed", () => {
    const other = ceremony((r) => withChange(r, 'id', 'cer-2025-0002'));
    const replayed = approval('alice', other);
    expect(refused(state, replayed)).toMatchObject({ code: 'APPROVAL_DIGEST_MISMATCH' });
    expect(refused(state, replayed).reason).toMatch(
      /alice signed digest .* but ceremony cer-2025-0001 has digest .* \(another ceremony, or this one changed\)/,
    );
    // Without the claimed digest, the signature itself fails: it covers the other digest.
    const { digest: _, ...bare } = replayed;
    expect(refused(state, bare).code).toBe('APPROVAL_SIGNATURE_INVALID');
    // Same id, one parameter changed (the target key name): a new digest, the old approval is worthless.
    const changed = ceremony((r) => withChange(r, 'target.azure.keyName', 'another-key'));
    expect(changed.digest).not.toBe(state.digest);
    expect(refused(changed, { ...approval('alice', state), digest: undefined }).code).toBe(
      'APPROVAL_SIGNATURE_INVALID',
    );
  });

  it('refuses approvals after the window, and before it opens', () => {
    const closesAt = OPENED + state.policy.windowMs;
    expect(validateApproval(state, approval('alice', state), closesAt)).toEqual({ ok: true });
    expect(refused(state, approval('alice', state), closesAt + 1)).toEqual({
      code: 'APPROVAL_EXPIRED',
      reason: 'the approval window of ceremony cer-2025-0001 closed at 2025-11-04T09:00:00.000Z',
    });
    expect(refused(state, approval('alice', state), OPENED - 1).code).toBe('APPROVAL_NOT_YET_OPEN');
    expect(quorumStatus(state, closesAt + 1)).toMatchObject({ kind: 'expired', approvals: 0, required: 2 });
  });

  it('veto: one valid rejection ends the ceremony and nothing is accepted after it', () => {
    const rejection = approval('bob', state, 'reject');
    expect(validateApproval(state, rejection, LATER)).toEqual({ ok: true });
    const vetoed = recordApproval(state, rejection, LATER);
    expect(quorumStatus(vetoed)).toEqual({ kind: 'vetoed', by: 'bob' });
    expect(refused(vetoed, approval('alice', state))).toEqual({
      code: 'APPROVAL_CLOSED',
      reason: 'ceremony cer-2025-0001 was vetoed by bob',
    });
    // A rejection with a bad signature vetoes nothing.
    expect(refused(state, { ...rejection, signature: approval('bob', state).signature }).code).toBe(
      'APPROVAL_SIGNATURE_INVALID',
    );
  });

  it('without veto, rejections count against reachability only', () => {
    const lenient = ceremony((r) => withChange(r, 'quorum.vetoOnReject', false));
    const one = recordApproval(lenient, approval('bob', lenient, 'reject'), LATER);
    expect(quorumStatus(one, LATER)).toMatchObject({ kind: 'pending', approvals: 0, required: 2 });
    const two = recordApproval(one, approval('carol', lenient, 'reject'), LATER);
    expect(quorumStatus(two)).toEqual({ kind: 'unreachable', approvals: 0, required: 2, remaining: 1 });
    expect(refused(two, approval('alice', lenient))).toMatchObject({ code: 'APPROVAL_CLOSED' });
  });

  it('reaches quorum with M distinct approvals, then closes', () => {
    const one = recordApproval(state, approval('alice', state), LATER);
    expect(quorumReached(one)).toBe(false);
    const two = recordApproval(one, approval('bob', state), LATER + 1);
    expect(quorumReached(two)).toBe(true);
    expect(two.decisions.map((d) => [d.approverId, d.receivedAt])).toEqual([
      ['alice', LATER],
      ['bob', LATER + 1],
    ]);
    expect(refused(two, approval('carol', state))).toEqual({
      code: 'APPROVAL_CLOSED',
      reason: 'ceremony cer-2025-0001 already has its 2 approvals',
    });
  });

  it('refuses after the ceremony was closed (cancelled)', () => {
    const closed = closeQuorum(state, 'cancelled by dave');
    expect(refused(closed, approval('alice', state))).toEqual({
      code: 'APPROVAL_CLOSED',
      reason: 'ceremony cer-2025-0001 no longer takes approvals: cancelled by dave',
    });
  });

  it('refuses malformed approvals without throwing', () => {
    const bad: unknown[] = [
      null,
      'approve',
      { decision: 'approve', signature: 'x' },
      { approverId: 'alice', decision: 'maybe', signature: 'x' },
      { approverId: 'alice', decision: 'approve' },
      { approverId: 'alice', decision: 'approve', signature: 'x', digest: 'short' },
      { approverId: 'alice', decision: 'approve', signature: 'x', comment: 'x'.repeat(1001) },
    ];
    for (const a of bad) expect(refused(state, a as Approval).code).toBe('APPROVAL_MALFORMED');
  });

  it('recordApproval refuses what validateApproval refuses, with the same code', () => {
    try {
      recordApproval(state, approval('dave', state), LATER);
      throw new Error('recorded');
    } catch (e) {
      expect(e).toBeInstanceOf(ByokError);
      expect((e as ByokError).code).toBe('APPROVER_IS_REQUESTER');
    }
  });

  it('is deterministic and pure: same inputs, same verdict; the state is never modified', () => {
    const a = approval('carol', state);
    const verdicts = [1, 2, 3].map(() => validateApproval(state, a, LATER));
    expect(new Set(verdicts.map((v) => JSON.stringify(v))).size).toBe(1);
    // `state` is deep-frozen: any write would have thrown.
    expect(signApprovalMessage(KEYS.alice.privateKeyPem, state.digest, 'approve')).toBe(
      signApprovalMessage(KEYS.alice.privateKeyPem, state.digest, 'approve'),
    );
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

describe('verifyQuorumRecord (the wrap step re-checks what the workflow collected)', () => {
  const definition = validateCeremonyDefinition(azureRaw());
  const state = openQuorum(definition, ceremonyDigest(definition), OPENED);
  const record = (who: keyof typeof KEYS, decision: Decision = 'approve', at = LATER) => ({
    ...approval(who, state, decision),
    receivedAt: at,
  });

  it('rebuilds a reached quorum from the definition and the signed decisions', () => {
    const rebuilt = verifyQuorumRecord(definition, OPENED, [record('alice'), record('bob')]);
    expect(quorumReached(rebuilt)).toBe(true);
    expect(rebuilt.digest).toBe(state.digest);
  });

  it('refuses decisions signed over another version of the definition, a veto, too few, or late ones', () => {
    const changed = validateCeremonyDefinition(withChange(azureRaw(), 'requester', 'zoe'));
    expect(() => verifyQuorumRecord(changed, OPENED, [record('alice'), record('bob')])).toThrow(
      expect.objectContaining({ code: 'APPROVAL_DIGEST_MISMATCH' }),
    );
    expect(() => verifyQuorumRecord(definition, OPENED, [record('alice'), record('bob', 'reject')])).toThrow(
      expect.objectContaining({ code: 'QUORUM_NOT_REACHED' }),
    );
    expect(() => verifyQuorumRecord(definition, OPENED, [record('alice')])).toThrow(
      expect.objectContaining({ code: 'QUORUM_NOT_REACHED' }),
    );
    const late = OPENED + definition.quorum.windowMs + 1;
    expect(() =>
      verifyQuorumRecord(definition, OPENED, [record('alice'), record('bob', 'approve', late)]),
    ).toThrow(expect.objectContaining({ code: 'APPROVAL_EXPIRED' }));
  });
});
