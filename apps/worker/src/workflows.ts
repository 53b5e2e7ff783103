/**
 * The ceremony, as Temporal runs it. Orchestration only: read `runbook` top to bottom for the ceremony's
 * script. Every step is an activity (idempotent); every step that leaves something behind pushes its undo
 * on the compensation stack, unwound in reverse, non-cancellably, when anything fails, the deadline passes
 * or someone cancels. The evidence is written whatever the outcome.
 */
import {
  type AuditData,
  exportAuditJson,
  quorumStatus,
  renderAuditReport,
} from '@byok/core/ceremony/workflow';
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type {
  CloudActivities,
  EvidenceActivities,
  HsmActivities,
  ImportPreparation,
  ImportResult,
  WrapInstructions,
} from './activities/types.js';
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
// Activities heartbeat every 2 s: a worker that dies is noticed after the heartbeat timeout, not after
// startToClose, and the step is retried on another worker (each step is idempotent).
const hsm = proxyActivities<HsmActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});
const cloud = proxyActivities<CloudActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 6 },
});
const evidence = proxyActivities<EvidenceActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second' },
});
/** Re-wrap only so often after an expired AWS import token: a clock that keeps expiring them is a fault. */
const MAX_IMPORT_ROUNDS = 3;
/** A token this close to its expiry is refreshed before wrapping, not used. */
const TOKEN_MARGIN_MS = 10 * 60_000;

/** An undo, named for the audit record; what it returns (ids deleted, kept) goes into the record too. */
interface Compensation {
  readonly name: string;
  readonly run: () => Promise<AuditData | undefined>;
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
    { validator: (request) => rec.assertCancellable(request, input.admins ?? []) },
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
  const cloudStep = { ...hsmStep, target: def.target };

  rec.setStatus('preflight');
  const [hsmCheck, cloudCheck] = await Promise.all([
    hsm.preflightHsm(hsmStep),
    cloud.preflightCloud(cloudStep),
  ]);
  rec.stepDone('preflight', {
    token: `${hsmCheck.tokenLabel} (${hsmCheck.tokenSerial}, firmware ${hsmCheck.firmware})`,
    keyExisted: hsmCheck.keyExisted,
    ...(hsmCheck.existingKeySpkiSha256 ? { existingKeySpkiSha256: hsmCheck.existingKeySpkiSha256 } : {}),
    cloud: cloudCheck.detail,
    ...(cloudCheck.notes?.length ? { cloudNotes: [...cloudCheck.notes] } : {}),
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
  // `prepared.latest` changes when an AWS import token expires; the undo always discards the latest one.
  const prepared: { latest?: ImportPreparation } = {};
  const discard: Compensation = {
    name: 'discard import parameters (KEK / EXTERNAL key and alias this ceremony created)',
    run: async () => ({
      ...(await cloud.discardImport({
        ...cloudStep,
        ...(prepared.latest ? { preparation: prepared.latest } : {}),
      })),
    }),
  };
  // Registered before the call, so that a cancel or a failure while prepareImport runs still removes what it
  // may have created: the AWS key and alias, the Azure KEK (found by name, alias and the ceremony's tag).
  compensations.push(discard);
  let preparation = await cloud.prepareImport({ ...cloudStep, ...(def.kek ? { pinnedKek: def.kek } : {}) });
  prepared.latest = preparation;
  if (def.kek && preparation.kek.fingerprint !== def.kek.sha256) {
    throw ApplicationFailure.nonRetryable(
      `the cloud's KEK ${preparation.kek.fingerprint} is not the approved ${def.kek.sha256}`,
      'KEK_MISMATCH',
    );
  }
  rec.stepDone('prepare-import', preparationFacts(preparation));

  // Only a key this ceremony created may be destroyed; one that existed before is the custodian's.
  if (!hsmCheck.keyExisted) {
    compensations.push({
      name: 'destroy generated HSM key',
      run: async () => {
        await hsm.destroyGeneratedKey(hsmStep);
        return undefined;
      },
    });
  }
  let result: ImportResult | undefined;
  let spki: string | undefined;
  for (let round = 1; result === undefined; round++) {
    if (preparation.expiresAt && Date.parse(preparation.expiresAt) - TOKEN_MARGIN_MS <= Date.now()) {
      preparation = await cloud.refreshPreparation({ ...cloudStep, preparation });
      prepared.latest = preparation;
      rec.stepDone('refresh-import-parameters', preparationFacts(preparation));
    }
    rec.setStatus('wrapping');
    const wrapped = await hsm.wrapTargetKey({
      ...hsmStep,
      keyExisted: hsmCheck.keyExisted,
      wrap: wrapInstructions(preparation),
      approvals: { definition: def, openedAt: rec.quorum.openedAt, decisions: rec.quorum.decisions },
    });
    spki = wrapped.publicKeySpkiSha256;
    rec.stepDone('wrap', {
      keyLabel: wrapped.keyLabel,
      generated: wrapped.generated,
      wrap: wrapped.wrapDescription,
      ciphertextSha256: wrapped.ciphertextSha256,
      ...(wrapped.publicKeySpkiSha256 ? { publicKeySpkiSha256: wrapped.publicKeySpkiSha256 } : {}),
    });

    rec.setStatus('importing');
    try {
      result = await cloud.importWrappedKey({ ...cloudStep, preparation, wrapped });
    } catch (err) {
      // The AWS import token expired between wrap and import: new parameters, new wrapping key, wrap again.
      if (describe(err).type !== 'IMPORT_TOKEN_EXPIRED' || round >= MAX_IMPORT_ROUNDS) throw err;
      rec.record('worker', 'import.token-expired', { round, expiresAt: preparation.expiresAt ?? '' });
      preparation = await cloud.refreshPreparation({ ...cloudStep, preparation });
      prepared.latest = preparation;
      rec.stepDone('refresh-import-parameters', preparationFacts(preparation));
    }
  }
  const imported = result.imported;
  rec.cloudKeyId = imported.keyId;
  compensations.push({
    name: 'revoke imported key',
    run: async () => ({ ...(await cloud.revokeImport({ ...cloudStep, preparation, imported })) }),
  });
  rec.stepDone('import', {
    cloudKeyId: imported.keyId,
    ...(imported.alias ? { alias: imported.alias } : {}),
    ...(imported.version ? { version: imported.version } : {}),
    ...(imported.publicKeyFingerprint ? { publicKeyFingerprint: imported.publicKeyFingerprint } : {}),
    alreadyImported: result.alreadyImported,
    notes: [...imported.notes],
  });

  rec.setStatus('verifying');
  const verification = await cloud.verifyImport({
    ...cloudStep,
    imported,
    ...(spki ? { expectedSpkiSha256: spki } : {}),
  });
  rec.stepDone('verify', {
    checks: verification.checks.map((c) => `${c.id}: ${c.detail}`),
    notes: [...verification.notes],
  });

  rec.setStatus('cleaning-up');
  const cleaned = await cloud.cleanupImport({ ...cloudStep, preparation });
  rec.stepDone('cleanup', { ...cleaned });
  // Done: nothing is undone from here on.
  compensations.length = 0;
  rec.setStatus('recording-evidence');
}

function wrapInstructions(p: ImportPreparation): WrapInstructions {
  return {
    kekPem: p.kek.publicKeyPem,
    kekFingerprint: p.kek.fingerprint,
    format: p.wrap.format,
    oaepHash: p.wrap.oaepHash,
  };
}

/** What the evidence keeps of a preparation: ids, fingerprints, algorithm, expiry (not the import token). */
function preparationFacts(p: ImportPreparation): Record<string, string | readonly string[]> {
  return {
    kekId: p.kek.id,
    kekSha256: p.kek.fingerprint,
    kekBits: String(p.kek.bits),
    wrap: `${p.wrap.format} OAEP ${p.wrap.oaepHash}${p.wrap.awsAlgorithm ? ` (${p.wrap.awsAlgorithm})` : ''}`,
    ...(p.keyId ? { cloudKeyId: p.keyId } : {}),
    ...(p.alias ? { alias: p.alias } : {}),
    ...(p.expiresAt ? { expiresAt: p.expiresAt } : {}),
    created: p.created.map((c) => `${c.kind} ${c.id}`),
    notes: [...p.notes],
  };
}

/** Runs the undo stack in reverse. A failing undo is recorded and the rest still run. */
async function unwind(compensations: Compensation[], rec: CeremonyRecord): Promise<void> {
  for (const compensation of [...compensations].reverse()) {
    try {
      const done = await compensation.run();
      rec.record('worker', 'compensation.done', { step: compensation.name, ...done });
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
