/**
 * The ceremony workflow against the real Temporal dev server (test/global-setup.ts), with fake HSM and cloud
 * activities: approval rules through real Updates, progress, search attributes, compensation, cancel.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Approval,
  type AuditChain,
  type CeremonyDefinition,
  ceremonyDigest,
  importAuditJson,
  verifyChain,
} from '@byok/core/ceremony';
import {
  Client,
  Connection,
  WorkflowFailedError,
  type WorkflowHandle,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, type Worker, type WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEvidenceActivities } from '../src/activities/evidence.js';
import { validateWorkerConfig, type WorkerConfig } from '../src/config.js';
import {
  approveUpdate,
  auditQuery,
  type CeremonyOutcome,
  type CeremonyStatus,
  cancelUpdate,
  progressQuery,
  rejectUpdate,
  SEARCH_ATTRIBUTES,
} from '../src/messages.js';
import { bundleCeremonyWorkflows, createCeremonyWorker } from '../src/worker.js';
import type { ceremonyWorkflow } from '../src/workflows.js';
import { approval, definition, type Failures, fakeActivities, Gate, uniqueId } from './helpers.js';

const TASK_QUEUE = `ceremony-test-${process.pid}`;
const UNCONFIGURED_QUEUE = `ceremony-unconfigured-${process.pid}`;

let dir: string;
let nativeConnection: NativeConnection;
let connection: Connection;
let client: Client;
let workers: Worker[] = [];
let running: Promise<void>[] = [];
const calls: string[] = [];
const failures: Failures = new Map();
const gates = new Map<string, Gate>();

function config(taskQueue: string): WorkerConfig {
  return validateWorkerConfig({ temporal: { taskQueue }, evidenceDir: join(dir, 'evidence') });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byok-worker-'));
  const address = inject('temporalAddress');
  nativeConnection = await NativeConnection.connect({ address });
  connection = await Connection.connect({ address });
  client = new Client({ connection });
  const bundle: WorkflowBundle = await bundleCeremonyWorkflows();
  const evidence = createEvidenceActivities(config(TASK_QUEUE));
  const gatedEvidence = {
    writeEvidence: async (input: Parameters<typeof evidence.writeEvidence>[0]) => {
      await gates.get(input.ceremonyId)?.opened;
      return evidence.writeEvidence(input);
    },
  };
  const fakes = fakeActivities(calls, failures);
  workers = [
    await createCeremonyWorker({
      config: config(TASK_QUEUE),
      connection: nativeConnection,
      workflowBundle: bundle,
      activities: { ...fakes, ...gatedEvidence },
    }),
    // Only the HSM is faked: the cloud activities are the real ones, with no cloud in the worker config.
    await createCeremonyWorker({
      config: config(UNCONFIGURED_QUEUE),
      connection: nativeConnection,
      workflowBundle: bundle,
      activities: {
        preflightHsm: fakes.preflightHsm,
        wrapTargetKey: fakes.wrapTargetKey,
        destroyGeneratedKey: fakes.destroyGeneratedKey,
      },
    }),
  ];
  running = workers.map((w) => w.run());
});

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await Promise.all(running);
  await nativeConnection?.close();
  await connection?.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(
  def: CeremonyDefinition,
  taskQueue = TASK_QUEUE,
): Promise<WorkflowHandle<typeof ceremonyWorkflow>> {
  return client.workflow.start<typeof ceremonyWorkflow>('ceremonyWorkflow', {
    taskQueue,
    workflowId: def.ceremonyId,
    args: [{ definition: def, expectedDigest: ceremonyDigest(def) }],
  });
}

async function waitForStatus(handle: WorkflowHandle, status: CeremonyStatus): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    last = (await handle.query(progressQuery)).status;
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ceremony stayed ${last}, never ${status}`);
}

let updateCounter = 0;
/** Sends an update; returns the refusal's type and message, or 'accepted'. */
async function send(
  handle: WorkflowHandle,
  a: Approval,
  ids: { accepted: string[]; refused: string[] },
  update = a.decision === 'reject' ? rejectUpdate : approveUpdate,
): Promise<'accepted' | { type: string; message: string }> {
  updateCounter += 1;
  const updateId = `u-${updateCounter}-${a.approverId}`;
  try {
    await handle.executeUpdate(update, { args: [a], updateId });
    ids.accepted.push(updateId);
    return 'accepted';
  } catch (err) {
    ids.refused.push(updateId);
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return { type: (cause as ApplicationFailure).type ?? '', message: (cause as ApplicationFailure).message };
  }
}

/** Update ids that reached the history (accepted updates are recorded; validator refusals are not). */
async function updatesInHistory(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId)
    .filter((id): id is string => typeof id === 'string');
}

describe('approval rules through real Updates', () => {
  it('refuses each bad approval with its code and reason, and none of them reaches the history', async () => {
    const def = definition({ id: uniqueId('rules') });
    const handle = await start(def);
    await waitForStatus(handle, 'awaiting-approvals');
    const ids = { accepted: [] as string[], refused: [] as string[] };

    // Self-approval: carol requested it (and is a listed approver).
    expect(await send(handle, approval('carol', def), ids)).toEqual({
      type: 'APPROVER_IS_REQUESTER',
      message: `carol requested ceremony ${def.ceremonyId} and cannot approve it`,
    });
    // Not in the policy.
    expect(await send(handle, approval('mallory', def), ids)).toMatchObject({
      type: 'APPROVER_NOT_ELIGIBLE',
    });
    // Bad signature: bob's approval signed with alice's key.
    expect(await send(handle, approval('bob', def, 'approve', { signer: 'alice' }), ids)).toMatchObject({
      type: 'APPROVAL_SIGNATURE_INVALID',
    });
    // Signed over another ceremony's digest: named when the approval says which digest it signed...
    const other = definition({ id: uniqueId('other') });
    const replay = await send(handle, approval('alice', other), ids);
    expect(replay).toMatchObject({ type: 'APPROVAL_DIGEST_MISMATCH' });
    expect((replay as { message: string }).message).toMatch(/another ceremony, or this one changed/);
    // ...and caught by the signature when it does not.
    expect(await send(handle, approval('alice', other, 'approve', { withDigest: false }), ids)).toMatchObject(
      {
        type: 'APPROVAL_SIGNATURE_INVALID',
      },
    );
    // A rejection sent as an approval.
    expect(await send(handle, approval('alice', def, 'reject'), ids, approveUpdate)).toMatchObject({
      type: 'APPROVAL_MALFORMED',
    });
    // Valid, then the same approver again.
    expect(await send(handle, approval('alice', def), ids)).toBe('accepted');
    expect(await send(handle, approval('alice', def), ids)).toEqual({
      type: 'APPROVER_DUPLICATE',
      message: `alice already decided (approve) on ceremony ${def.ceremonyId}`,
    });

    const progress = await handle.query(progressQuery);
    expect(progress.status).toBe('awaiting-approvals');
    expect(progress.digest).toBe(ceremonyDigest(def));
    expect(progress.quorum).toMatchObject({ kind: 'pending', approvals: 1, required: 2 });
    expect(progress.decisions.map((d) => [d.approverId, d.decision])).toEqual([['alice', 'approve']]);
    expect(progress.completedSteps).toEqual(['preflight']);

    const inHistory = await updatesInHistory(handle);
    expect(inHistory).toEqual(ids.accepted);
    expect(ids.refused).toHaveLength(7);
    for (const refused of ids.refused) expect(inHistory).not.toContain(refused);

    await handle.executeUpdate(cancelUpdate, { args: [{ actor: 'requester:carol', reason: 'test done' }] });
    expect(await handle.result()).toMatchObject({ status: 'cancelled' });
  });

  it('refuses approvals after the window', async () => {
    const def = definition({ id: uniqueId('window'), windowMs: 2_000 });
    const gate = new Gate();
    gates.set(def.ceremonyId, gate);
    const handle = await start(def);
    // The window closes with no quorum: the ceremony expires and holds on writing its evidence (gate).
    await waitForStatus(handle, 'expired');
    const ids = { accepted: [] as string[], refused: [] as string[] };
    const late = await send(handle, approval('alice', def), ids);
    expect(late).toMatchObject({ type: 'APPROVAL_EXPIRED' });
    expect((late as { message: string }).message).toMatch(/approval window of ceremony .* closed at/);
    gate.release();
    const outcome = await handle.result();
    expect(outcome).toMatchObject({ status: 'expired', error: { type: 'CEREMONY_EXPIRED' } });
    expect(await updatesInHistory(handle)).toEqual([]);
  });

  it('veto: one valid rejection ends the ceremony; later approvals are refused', async () => {
    const def = definition({ id: uniqueId('veto') });
    const gate = new Gate();
    gates.set(def.ceremonyId, gate);
    const handle = await start(def);
    await waitForStatus(handle, 'awaiting-approvals');
    const ids = { accepted: [] as string[], refused: [] as string[] };
    expect(await send(handle, approval('alice', def), ids)).toBe('accepted');
    const receipt = await handle.executeUpdate(rejectUpdate, { args: [approval('bob', def, 'reject')] });
    expect(receipt.quorum).toEqual({ kind: 'vetoed', by: 'bob' });
    await waitForStatus(handle, 'rejected');
    const closed = await send(handle, approval('alice', def), ids);
    expect(closed).toMatchObject({ type: 'APPROVAL_CLOSED' });
    gate.release();
    expect(await handle.result()).toMatchObject({
      status: 'rejected',
      error: { type: 'CEREMONY_REJECTED', message: 'vetoed by bob' },
    });
    // Nothing was prepared or generated, so nothing was compensated.
    expect(calls.filter((c) => c.endsWith(def.ceremonyId))).toEqual([
      `preflightHsm ${def.ceremonyId}`,
      `preflightCloud ${def.ceremonyId}`,
    ]);
  });
});

describe('the runbook', () => {
  it('runs every step after the quorum, upserts its status and writes verifiable evidence', async () => {
    const def = definition({ id: uniqueId('happy') });
    const handle = await start(def);
    await waitForStatus(handle, 'awaiting-approvals');
    expect((await handle.describe()).typedSearchAttributes.get(SEARCH_ATTRIBUTES.status)).toBe(
      'awaiting-approvals',
    );
    await handle.executeUpdate(approveUpdate, { args: [approval('alice', def)] });
    const receipt = await handle.executeUpdate(approveUpdate, { args: [approval('bob', def)] });
    expect(receipt.quorum).toMatchObject({ kind: 'reached', approvals: 2 });

    const outcome: CeremonyOutcome = await handle.result();
    expect(outcome).toMatchObject({
      status: 'completed',
      cloudKeyId: `https://fake/keys/${def.ceremonyId}/v1`,
    });
    expect(calls.filter((c) => c.endsWith(def.ceremonyId)).map((c) => c.split(' ')[0])).toEqual([
      'preflightHsm',
      'preflightCloud',
      'prepareImport',
      'wrapTargetKey',
      'importWrappedKey',
      'verifyImport',
      'cleanupImport',
    ]);
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status)).toBe('completed');
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.requester)).toBe('carol');
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.keyName)).toBe(def.ceremonyId);

    // Evidence: the chain on disk verifies, its head is the outcome's, and it tells the story in order.
    const exported = importAuditJson(await readFile(outcome.evidence?.jsonPath ?? '', 'utf8'));
    expect(exported.head).toBe(outcome.auditHead);
    expect(exported.events.map((e) => e.type)).toEqual([
      'ceremony.requested',
      'step.preflight',
      'approval.approved',
      'approval.approved',
      'step.quorum',
      'step.prepare-import',
      'step.wrap',
      'step.import',
      'step.verify',
      'step.cleanup',
      'ceremony.completed',
    ]);
    expect(exported.events[2]?.actor).toBe('approver:alice');
    expect(await readFile(outcome.evidence?.reportPath ?? '', 'utf8')).toContain('Chain verified: 11 events');
    const chain: AuditChain = await handle.query(auditQuery);
    expect(verifyChain(chain)).toMatchObject({ ok: true, head: outcome.auditHead });
  });

  it('unwinds the compensation stack in reverse when a step fails, then fails with its type', async () => {
    const def = definition({ id: uniqueId('saga') });
    failures.set(def.ceremonyId, { importWrappedKey: 'IMPORT_REFUSED' });
    const handle = await start(def);
    await waitForStatus(handle, 'awaiting-approvals');
    await handle.executeUpdate(approveUpdate, { args: [approval('alice', def)] });
    await handle.executeUpdate(approveUpdate, { args: [approval('bob', def)] });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('IMPORT_REFUSED');
    expect(calls.filter((c) => c.endsWith(def.ceremonyId)).map((c) => c.split(' ')[0])).toEqual([
      'preflightHsm',
      'preflightCloud',
      'prepareImport',
      'wrapTargetKey',
      'importWrappedKey',
      // reverse order of what was done: the generated key first, then the KEK / import parameters
      'destroyGeneratedKey',
      'discardImport',
    ]);
    const progress = await handle.query(progressQuery);
    expect(progress.status).toBe('failed');
    expect(progress.error).toEqual({ type: 'IMPORT_REFUSED', message: 'importWrappedKey failed (test)' });
    const types = (await handle.query(auditQuery)).map((e) => e.type);
    expect(types.slice(-3)).toEqual(['compensation.done', 'compensation.done', 'ceremony.failed']);
  });

  it('a target missing from the worker config stops the preflight with CLOUD_NOT_CONFIGURED, undoing nothing', async () => {
    const def = definition({ id: uniqueId('noclouds') });
    const handle = await start(def, UNCONFIGURED_QUEUE);
    const err = await handle.result().catch((e: unknown) => e);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('CLOUD_NOT_CONFIGURED');
    expect(cause.message).toMatch(/contoso\.vault\.azure\.net is not configured in this worker/);
    expect((await handle.query(progressQuery)).completedSteps).toEqual([]);
  });

  it('cancel: an Update stops the ceremony, compensates, and records who cancelled', async () => {
    const def = definition({ id: uniqueId('cancel') });
    const handle = await start(def);
    await waitForStatus(handle, 'awaiting-approvals');
    const bad = await handle
      .executeUpdate(cancelUpdate, { args: [{ actor: '', reason: 'x' }] })
      .catch((e: WorkflowUpdateFailedError) => (e.cause as ApplicationFailure).type);
    expect(bad).toBe('CANCEL_MALFORMED');
    // Only the requester or an admin named at the start may cancel; an approver may not.
    for (const actor of ['approver:alice', 'requester:alice', 'admin:mallory']) {
      const refused = await handle
        .executeUpdate(cancelUpdate, { args: [{ actor, reason: 'x' }] })
        .catch((e: WorkflowUpdateFailedError) => (e.cause as ApplicationFailure).type);
      expect(refused).toBe('CANCEL_FORBIDDEN');
    }
    await handle.executeUpdate(cancelUpdate, {
      args: [{ actor: 'requester:carol', reason: 'wrong key name' }],
    });
    const outcome = await handle.result();
    expect(outcome).toMatchObject({
      status: 'cancelled',
      error: { type: 'CEREMONY_CANCELLED', message: 'wrong key name' },
    });
    const chain = await handle.query(auditQuery);
    expect(chain.at(-1)).toMatchObject({ type: 'ceremony.cancelled', actor: 'requester:carol' });
    expect(chain.map((e) => e.type)).toContain('ceremony.cancel-requested');
  });
});
