/**
 * The ceremony's state inside the workflow: status, quorum, audit chain, completed steps. Workflow code
 * (deterministic, sandboxed): every time is workflow time, every change goes through a method that also
 * appends the audit event and upserts the search attributes, so the record and the history cannot drift.
 */
import {
  type Approval,
  type AuditChain,
  type AuditData,
  appendEvent,
  auditHead,
  type CeremonyDefinition,
  ceremonyDigest,
  closeQuorum,
  type Decision,
  openQuorum,
  type QuorumState,
  type QuorumStatus,
  quorumStatus,
  recordApproval,
  validateApproval,
} from '@byok/core/ceremony/workflow';
import { ApplicationFailure, upsertSearchAttributes } from '@temporalio/workflow';
import {
  type ApprovalReceipt,
  type CancelRequest,
  type CeremonyProgress,
  type CeremonyStatus,
  SEARCH_ATTRIBUTES,
} from './messages.js';

const END_STATES: readonly CeremonyStatus[] = ['completed', 'rejected', 'expired', 'cancelled', 'failed'];

export class CeremonyRecord {
  readonly digest: string;
  readonly startedAt: number;
  readonly deadlineAt: number;
  status: CeremonyStatus = 'requested';
  quorum: QuorumState;
  audit: AuditChain = [];
  readonly completedSteps: string[] = [];
  cloudKeyId?: string;
  error?: { type: string; message: string };
  cancelRequest?: CancelRequest;

  constructor(
    readonly definition: CeremonyDefinition,
    now: number,
  ) {
    this.digest = ceremonyDigest(definition);
    this.startedAt = now;
    this.deadlineAt = now + definition.deadlines.overallMs;
    this.quorum = openQuorum(definition, this.digest, now);
    const target = definition.target;
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.status, value: this.status },
      { key: SEARCH_ATTRIBUTES.cloud, value: target.cloud },
      {
        key: SEARCH_ATTRIBUTES.keyName,
        value: target.cloud === 'azure' ? target.keyName : (target.alias ?? target.keyId ?? ''),
      },
      { key: SEARCH_ATTRIBUTES.requester, value: definition.requester },
    ]);
    this.record(`requester:${definition.requester}`, 'ceremony.requested', {
      ceremonyId: definition.ceremonyId,
      digest: this.digest,
      cloud: target.cloud,
      target:
        target.cloud === 'azure'
          ? `${target.vaultUrl}/keys/${target.keyName}`
          : `${target.region} ${target.alias ?? target.keyId}`,
      key:
        definition.key.kind === 'ec'
          ? `EC ${definition.key.curve}`
          : `${definition.key.kind.toUpperCase()}-${definition.key.bits}`,
      hsmProfile: definition.hsm.profile,
      hsmKeyLabel: definition.hsm.keyLabel,
      quorum: `${definition.quorum.required} of ${definition.quorum.approvers.map((a) => a.id).join(', ')}`,
      vetoOnReject: definition.quorum.vetoOnReject,
      ...(definition.kek ? { pinnedKekSha256: definition.kek.sha256 } : {}),
    });
  }

  /** Appends one audit event at workflow time. */
  record(actor: string, type: string, data: AuditData = {}): void {
    this.audit = appendEvent(this.audit, { time: Date.now(), actor, type, data });
  }

  setStatus(status: CeremonyStatus): void {
    if (this.status === status) return;
    this.status = status;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: status }]);
  }

  stepDone(step: string, data: AuditData = {}): void {
    this.completedSteps.push(step);
    this.record('worker', `step.${step}`, data);
  }

  get ended(): boolean {
    return END_STATES.includes(this.status);
  }

  // ---- approvals ----

  /**
   * The Update validator: synchronous, so its throw rejects the Update before anything is written to
   * history. Each refusal is an ApplicationFailure whose type is the rule's code.
   */
  assertAcceptable(approval: Approval, expected: Decision): void {
    if (approval?.decision !== expected) {
      throw ApplicationFailure.create({
        type: 'APPROVAL_MALFORMED',
        message: `the ${expected} update carries decision ${JSON.stringify(approval?.decision)}`,
        nonRetryable: true,
      });
    }
    const verdict = validateApproval(this.quorum, approval, Date.now());
    if (!verdict.ok)
      throw ApplicationFailure.create({ type: verdict.code, message: verdict.reason, nonRetryable: true });
  }

  /**
   * The Update handler, after the validator accepted: records the decision and its audit event. The
   * state rules are checked again (another Update of the same activation may have changed the quorum);
   * the signature is not: the validator verified this very object, and in a replay the accepted Update is
   * already history.
   */
  acceptDecision(approval: Approval): ApprovalReceipt {
    try {
      this.quorum = recordApproval(this.quorum, approval, Date.now(), { signatureVerified: true });
    } catch (err) {
      // Another update of the same activation changed the quorum after this one was validated.
      const code =
        typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'APPROVAL_INVALID';
      throw ApplicationFailure.create({
        type: code,
        message: err instanceof Error ? err.message : String(err),
        nonRetryable: true,
      });
    }
    this.record(
      `approver:${approval.approverId}`,
      `approval.${approval.decision === 'approve' ? 'approved' : 'rejected'}`,
      {
        digest: this.digest,
        signature: approval.signature,
        ...(approval.comment === undefined ? {} : { comment: approval.comment }),
      },
    );
    return {
      ceremonyId: this.definition.ceremonyId,
      approverId: approval.approverId,
      decision: approval.decision,
      quorum: quorumStatus(this.quorum, Date.now()),
      auditHash: auditHead(this.audit),
    };
  }

  /** True once waiting for more approvals is pointless: reached, vetoed or unreachable. */
  quorumSettled(): boolean {
    return quorumStatus(this.quorum).kind !== 'pending';
  }

  approvalWindowRemaining(now: number): number {
    return Math.max(0, this.quorum.openedAt + this.definition.quorum.windowMs - now);
  }

  /** Stops taking approvals for `reason`; later Updates get APPROVAL_CLOSED. */
  closeApprovals(reason: string): void {
    if (this.quorum.closed === undefined) this.quorum = closeQuorum(this.quorum, reason);
  }

  // ---- cancellation ----

  assertCancellable(request: CancelRequest, admins: readonly string[]): void {
    if (
      typeof request?.actor !== 'string' ||
      request.actor.trim() === '' ||
      typeof request.reason !== 'string'
    ) {
      throw ApplicationFailure.create({
        type: 'CANCEL_MALFORMED',
        message: 'cancel needs an actor and a reason',
        nonRetryable: true,
      });
    }
    const [role, id] = request.actor.split(':', 2);
    const allowed =
      (role === 'requester' && id === this.definition.requester) ||
      (role === 'admin' && id !== undefined && admins.includes(id));
    if (!allowed) {
      throw ApplicationFailure.create({
        type: 'CANCEL_FORBIDDEN',
        message: `${request.actor} may not cancel ceremony ${this.definition.ceremonyId}: only requester:${this.definition.requester}${
          admins.length > 0 ? ` or admin:${admins.join(', admin:')}` : ''
        }`,
        nonRetryable: true,
      });
    }
    if (this.ended || this.status === 'compensating' || this.cancelRequest) {
      throw ApplicationFailure.create({
        type: 'CANCEL_TOO_LATE',
        message: `ceremony ${this.definition.ceremonyId} is ${this.cancelRequest ? 'already being cancelled' : this.status}`,
        nonRetryable: true,
      });
    }
  }

  requestCancel(request: CancelRequest): void {
    this.cancelRequest = request;
    this.record(request.actor, 'ceremony.cancel-requested', { reason: request.reason });
  }

  // ---- read side ----

  quorumNow(): QuorumStatus {
    return quorumStatus(this.quorum, Date.now());
  }

  progress(): CeremonyProgress {
    return {
      ceremonyId: this.definition.ceremonyId,
      digest: this.digest,
      status: this.status,
      quorum: this.quorumNow(),
      decisions: this.quorum.decisions.map((d) => ({
        approverId: d.approverId,
        decision: d.decision,
        at: new Date(d.receivedAt).toISOString(),
      })),
      approvalWindowClosesAt: new Date(this.quorum.openedAt + this.definition.quorum.windowMs).toISOString(),
      deadlineAt: new Date(this.deadlineAt).toISOString(),
      completedSteps: [...this.completedSteps],
      auditLength: this.audit.length,
      auditHead: auditHead(this.audit),
      ...(this.cloudKeyId === undefined ? {} : { cloudKeyId: this.cloudKeyId }),
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }
}
