/**
 * Everything a client and the ceremony workflow agree on: the workflow's input and outcome, its Updates,
 * Query and search attributes. Imported by the workflow (sandbox) and by clients (CLI, dashboard), so it
 * holds definitions and types only.
 */
import type { Approval, AuditChain, CeremonyDefinition, QuorumStatus } from '@byok/core/ceremony/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export const CEREMONY_WORKFLOW_TYPE = 'ceremonyWorkflow';

export interface CeremonyInput {
  /** Validated by `parseCeremonyDefinition` before the start; the workflow re-derives its digest from it. */
  readonly definition: CeremonyDefinition;
  /**
   * The digest the requester saw when submitting. When given, the workflow refuses to run if its own
   * digest of `definition` differs (a definition altered between the requester and the server).
   */
  readonly expectedDigest?: string;
  /**
   * Identities (besides the requester) allowed to cancel: `cancel` from `admin:<id>` is accepted only for
   * these ids. Set by whoever starts the ceremony (the CLI takes them from its config).
   */
  readonly admins?: readonly string[];
}

/** The ceremony's states, in runbook order, then the end states. Also the CeremonyStatus search attribute. */
export const CEREMONY_STATUSES = [
  'requested',
  'preflight',
  'awaiting-approvals',
  'approved',
  'preparing-import',
  'wrapping',
  'importing',
  'verifying',
  'cleaning-up',
  'recording-evidence',
  'completed',
  'compensating',
  'rejected',
  'expired',
  'cancelled',
  'failed',
] as const;
export type CeremonyStatus = (typeof CEREMONY_STATUSES)[number];

/** What an approver gets back when their decision is accepted. */
export interface ApprovalReceipt {
  readonly ceremonyId: string;
  readonly approverId: string;
  readonly decision: Approval['decision'];
  readonly quorum: QuorumStatus;
  /** Hash of the audit event that records this decision. */
  readonly auditHash: string;
}

export interface CancelRequest {
  /**
   * Who cancels: `requester:<the definition's requester>` or `admin:<one of the input's admins>`; anyone
   * else is refused (CANCEL_FORBIDDEN) before the Update reaches the history. Recorded in the audit chain.
   */
  readonly actor: string;
  readonly reason: string;
}

export interface CeremonyProgress {
  readonly ceremonyId: string;
  readonly digest: string;
  readonly status: CeremonyStatus;
  readonly quorum: QuorumStatus;
  readonly decisions: readonly {
    readonly approverId: string;
    readonly decision: string;
    readonly at: string;
  }[];
  readonly approvalWindowClosesAt: string;
  readonly deadlineAt: string;
  /** Steps done, in order (`preflight`, `prepare-import`, ...). */
  readonly completedSteps: readonly string[];
  readonly auditLength: number;
  readonly auditHead: string;
  readonly cloudKeyId?: string;
  readonly error?: { readonly type: string; readonly message: string };
}

export interface CeremonyOutcome {
  readonly ceremonyId: string;
  readonly status: Extract<CeremonyStatus, 'completed' | 'rejected' | 'expired' | 'cancelled' | 'failed'>;
  readonly digest: string;
  readonly auditHead: string;
  readonly cloudKeyId?: string;
  readonly evidence?: { readonly jsonPath: string; readonly reportPath: string };
  readonly error?: { readonly type: string; readonly message: string };
}

/** An approver's signed approval. Refused (never written to history) unless `validateApproval` accepts it. */
export const approveUpdate = defineUpdate<ApprovalReceipt, [Approval]>('approve');
/** An approver's signed rejection (a veto when the policy says so). Same rules as `approve`. */
export const rejectUpdate = defineUpdate<ApprovalReceipt, [Approval]>('reject');
/** Stops the ceremony and unwinds what was done. An Update, so the caller learns whether it was taken. */
export const cancelUpdate = defineUpdate<CeremonyStatus, [CancelRequest]>('cancel');
export const progressQuery = defineQuery<CeremonyProgress>('progress');
/** The audit chain so far (the evidence in the making). */
export const auditQuery = defineQuery<AuditChain>('audit');

/** Search attributes the dev server registers (infra/temporal) and the workflow upserts. */
export const SEARCH_ATTRIBUTES = {
  status: defineSearchAttributeKey('CeremonyStatus', SearchAttributeType.KEYWORD),
  cloud: defineSearchAttributeKey('CeremonyCloud', SearchAttributeType.KEYWORD),
  keyName: defineSearchAttributeKey('CeremonyKeyName', SearchAttributeType.KEYWORD),
  requester: defineSearchAttributeKey('CeremonyRequester', SearchAttributeType.KEYWORD),
} as const;
