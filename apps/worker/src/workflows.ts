/**
 * The ceremony, as Temporal runs it. Orchestration only: read `runbook` top to bottom for the ceremony's
 * script. Every step is an activity (idempotent); every step that leaves something behind pushes its undo
 * on the compensation stack, unwound in reverse, non-cancellably, when anything fails, the deadline passes
 * or someone cancels. The evidence is written whatever the outcome.
 */
import { exportAuditJson, quorumStatus, renderAuditReport } from '@byok/core/ceremony/workflow';
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { CloudActivities, EvidenceActivities, HsmActivities } from './activities/types.js';
import { CeremonyRecord } from './ceremony-record.js';
import {
  approveUpdate,
  auditQuery,
  type CeremonyInput,
  type CeremonyOutcome,
  cancelUpdate,
  progressQuery,
  rejectUpdate,
} from './messages.js';

// Wrong PINs, missing keys and policy refusals are non-retryable (the activities say so); the rest retries.
const hsm = proxyActivities<HsmActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
});
const cloud = proxyActivities<CloudActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', maximumAttempts: 5 },
});
const evidence = proxyActivities<EvidenceActivities>({ startToCloseTimeout: '1 minute' });

/** An undo, named for the audit record. */
interface Compensation {
  readonly name: string;
  readonly run: () => Promise<void>;
}

export async function ceremonyWorkflow(input: CeremonyInput): Promise<CeremonyOutcome> {
  const def = input.definition;
  const rec = new CeremonyRecord(def, Date.now());
  if (input.expectedDigest !== undefined && input.expectedDigest !== rec.digest) {
    throw ApplicationFailure.nonRetryable(
      `ceremony ${def.ceremonyId}: the definition's digest is ${rec.digest}, not the ${input.expectedDigest} it was submitted with`,
      'CEREMONY_DIGEST_MISMATCH',
    );
  }
  const compensations: Compensation[] = [];
  // The overall deadline cancels everything inside this scope; compensation then runs outside it.
  const main = new CancellationScope({ cancellable: true, timeout: rec.deadlineAt - Date.now() });

  setHandler(progressQuery, () => rec.progress());
  setHandler(auditQuery, () => rec.audit);
  setHandler(approveUpdate, (a) => rec.acceptDecision(a), {
    validator: (a) => rec.assertAcceptable(a, 'approve'),
  });
  setHandler(rejectUpdate, (a) => rec.acceptDecision(a), {
    validator: (a) => rec.assertAcceptable(a, 'reject'),
  });
  setHandler(
    cancelUpdate,
    (request) => {
      rec.requestCancel(request);
      main.cancel();
      return rec.status;
    },
    { validator: (request) => rec.assertCancellable(request) },
  );

  let failure: unknown;
  try {
    await main.run(() => runbook(rec, compensations));
    rec.setStatus('completed');
    rec.record('worker', 'ceremony.completed', { cloudKeyId: rec.cloudKeyId ?? '' });
  } catch (err) {
    failure = err;
    const ending = classify(err, rec);
    rec.error = ending.error;
    // An expired window keeps saying so (APPROVAL_EXPIRED) to late approvers; other endings close it.
    if (ending.status !== 'expired') rec.closeApprovals(`ceremony ${ending.status}`);
    rec.setStatus('compensating');
    await CancellationScope.nonCancellable(() => unwind(compensations, rec));
    rec.setStatus(ending.status);
    rec.record(rec.cancelRequest?.actor ?? 'worker', `ceremony.${ending.status}`, { ...ending.error });
  }

  const files = await CancellationScope.nonCancellable(() =>
    evidence.writeEvidence({
      ceremonyId: def.ceremonyId,
      auditJson: exportAuditJson(def.ceremonyId, rec.audit),
      auditReport: renderAuditReport(def.ceremonyId, rec.audit),
    }),
  );
  const outcome: CeremonyOutcome = {
    ceremonyId: def.ceremonyId,
    status: rec.status as CeremonyOutcome['status'],
    digest: rec.digest,
    auditHead: rec.progress().auditHead,
    evidence: files,
    ...(rec.cloudKeyId === undefined ? {} : { cloudKeyId: rec.cloudKeyId }),
    ...(rec.error === undefined ? {} : { error: rec.error }),
  };
  // A cancel from Temporal itself (not our Update) must end as Canceled; a technical failure as Failed.
  if (
    failure !== undefined &&
    isCancellation(failure) &&
    rec.cancelRequest === undefined &&
    rec.status === 'cancelled'
  ) {
    throw failure;
  }
  if (rec.status === 'failed') {
    throw ApplicationFailure.create({
      type: rec.error?.type ?? 'CEREMONY_FAILED',
      message: rec.error?.message ?? 'ceremony failed',
      nonRetryable: true,
      details: [outcome],
    });
  }
  return outcome;
}

/** The ceremony's script. Each `push` registers the undo of what the step before it did. */
async function runbook(rec: CeremonyRecord, compensations: Compensation[]): Promise<void> {
  const def = rec.definition;
  const hsmStep = { ceremonyId: def.ceremonyId, hsm: def.hsm, key: def.key };

  rec.setStatus('preflight');
  const [hsmCheck, cloudCheck] = await Promise.all([
    hsm.preflightHsm(hsmStep),
    cloud.preflightCloud({ ceremonyId: def.ceremonyId, target: def.target }),
  ]);
  rec.stepDone('preflight', {
    token: `${hsmCheck.tokenLabel} (${hsmCheck.tokenSerial}, firmware ${hsmCheck.firmware})`,
    keyExisted: hsmCheck.keyExisted,
    ...(hsmCheck.existingKeySpkiSha256 ? { existingKeySpkiSha256: hsmCheck.existingKeySpkiSha256 } : {}),
    cloud: cloudCheck.detail,
  });

  rec.setStatus('awaiting-approvals');
  const windowLeft = rec.approvalWindowRemaining(Date.now());
  if (windowLeft > 0) await condition(() => rec.quorumSettled(), windowLeft);
  const quorum = quorumStatus(rec.quorum, Date.now());
  if (quorum.kind !== 'reached') {
    const expired = quorum.kind === 'expired' || quorum.kind === 'pending';
    throw ApplicationFailure.nonRetryable(
      expired
        ? `approval window closed with ${rec.quorum.decisions.length} of ${def.quorum.required} approvals`
        : quorum.kind === 'vetoed'
          ? `vetoed by ${quorum.by}`
          : 'too many rejections to reach the quorum',
      expired ? 'CEREMONY_EXPIRED' : 'CEREMONY_REJECTED',
    );
  }
  rec.setStatus('approved');
  rec.stepDone('quorum', { approvals: quorum.approvals, required: quorum.required });

  rec.setStatus('preparing-import');
  const prepared = await cloud.prepareImport({
    ceremonyId: def.ceremonyId,
    target: def.target,
    ...(def.kek ? { pinnedKek: def.kek } : {}),
  });
  const cleanup = { ceremonyId: def.ceremonyId, target: def.target, prepared };
  compensations.push({ name: 'discard import parameters', run: () => cloud.discardImport(cleanup) });
  if (def.kek && prepared.kekSha256 !== def.kek.sha256) {
    throw ApplicationFailure.nonRetryable(
      `the cloud's KEK ${prepared.kekSha256} is not the approved ${def.kek.sha256}`,
      'KEK_MISMATCH',
    );
  }
  rec.stepDone('prepare-import', {
    kekId: prepared.kekId,
    kekSha256: prepared.kekSha256,
    oaepHash: prepared.oaepHash,
    ...(prepared.wrappingAlgorithm ? { wrappingAlgorithm: prepared.wrappingAlgorithm } : {}),
    ...(prepared.validUntil ? { validUntil: prepared.validUntil } : {}),
  });

  rec.setStatus('wrapping');
  // Only a key this ceremony created may be destroyed; one that existed before is the custodian's.
  if (!hsmCheck.keyExisted) {
    compensations.push({ name: 'destroy generated HSM key', run: () => hsm.destroyGeneratedKey(hsmStep) });
  }
  const wrapped = await hsm.wrapTargetKey({
    ...hsmStep,
    kekPem: prepared.kekPem,
    oaepHash: prepared.oaepHash,
  });
  rec.stepDone('wrap', {
    keyLabel: wrapped.keyLabel,
    generated: wrapped.generated,
    wrap: wrapped.wrapDescription,
    ciphertextSha256: wrapped.ciphertextSha256,
    ...(wrapped.publicKeySpkiSha256 ? { publicKeySpkiSha256: wrapped.publicKeySpkiSha256 } : {}),
  });

  rec.setStatus('importing');
  const importInput = { ceremonyId: def.ceremonyId, target: def.target, prepared, wrapped };
  const imported = await cloud.importWrappedKey(importInput);
  rec.cloudKeyId = imported.cloudKeyId;
  compensations.push({
    name: 'revoke imported key',
    run: () => cloud.revokeImport({ ...importInput, imported }),
  });
  rec.stepDone('import', { cloudKeyId: imported.cloudKeyId });

  rec.setStatus('verifying');
  const verification = await cloud.verifyImport({
    ceremonyId: def.ceremonyId,
    target: def.target,
    imported,
    hsm: def.hsm,
    key: def.key,
    ...(wrapped.publicKeySpkiSha256 ? { expectedSpkiSha256: wrapped.publicKeySpkiSha256 } : {}),
  });
  rec.stepDone('verify', { method: verification.method, detail: verification.detail });

  rec.setStatus('cleaning-up');
  await cloud.cleanupImport(cleanup);
  rec.stepDone('cleanup');
  // Done: nothing is undone from here on.
  compensations.length = 0;
  rec.setStatus('recording-evidence');
}

/** Runs the undo stack in reverse. A failing undo is recorded and the rest still run. */
async function unwind(compensations: Compensation[], rec: CeremonyRecord): Promise<void> {
  for (const compensation of [...compensations].reverse()) {
    try {
      await compensation.run();
      rec.record('worker', 'compensation.done', { step: compensation.name });
    } catch (err) {
      const { type, message } = describe(err);
      log.error('compensation failed', { step: compensation.name, type });
      rec.record('worker', 'compensation.failed', { step: compensation.name, type, message });
    }
  }
  compensations.length = 0;
}

type Ending = {
  status: 'rejected' | 'expired' | 'cancelled' | 'failed';
  error: { type: string; message: string };
};

/** How the ceremony ended, from the error that stopped the runbook. */
function classify(err: unknown, rec: CeremonyRecord): Ending {
  if (isCancellation(err)) {
    if (rec.cancelRequest) {
      return {
        status: 'cancelled',
        error: { type: 'CEREMONY_CANCELLED', message: rec.cancelRequest.reason },
      };
    }
    if (Date.now() >= rec.deadlineAt) {
      return {
        status: 'expired',
        error: { type: 'CEREMONY_DEADLINE', message: 'the overall deadline passed' },
      };
    }
    return { status: 'cancelled', error: { type: 'CEREMONY_CANCELLED', message: 'workflow cancelled' } };
  }
  const error = describe(err);
  if (error.type === 'CEREMONY_REJECTED') return { status: 'rejected', error };
  if (error.type === 'CEREMONY_EXPIRED') return { status: 'expired', error };
  return { status: 'failed', error };
}

/** The type and message of the innermost ApplicationFailure (activity failures wrap it). */
function describe(err: unknown): { type: string; message: string } {
  let current: unknown = err;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure)
      return { type: current.type ?? 'Error', message: current.message };
    current = current.cause;
  }
  return { type: 'Error', message: err instanceof Error ? err.message : String(err) };
}
