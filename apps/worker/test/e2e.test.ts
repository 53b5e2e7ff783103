/**
 * End to end against the REAL Temporal dev server (SQLite), the emulators and SoftHSM, with the worker running
 * as a child process (`node dist/main.js`, built first): happy paths into Azure Key Vault (RSA-2048) and AWS KMS
 * (SYMMETRIC_DEFAULT, with its alias), 2 of 3; a SIGKILL of the worker at each activity in turn (Azure, and AWS
 * including right after CreateKey); AWS compensation after a cancel; an AWS alias already taken; a Temporal
 * server restart mid-ceremony; and no PIN or key byte in any history or worker log.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import type { CeremonyDefinition } from '@byok/core/ceremony';
import { CEREMONY_SEARCH_ATTRIBUTES, type DevServer, freePort, startDevServer } from '@byok/temporal-dev';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { ApplicationFailure, Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ENCRYPTED_ENCODING } from '../src/codec.js';
import { auditQuery, type CeremonyOutcome, cancelUpdate, progressQuery } from '../src/messages.js';
import {
  APPROVERS,
  approveTwice,
  ceremonyDefinition,
  outcome,
  rawDefinition,
  startCeremony,
  waitForStatus,
} from './e2e/ceremony.js';
import {
  azureVersions,
  emulatorSecrets,
  hsmKeys,
  keyClient,
  kmsAesBlock,
  kmsAliasTarget,
  kmsClient,
  kmsKeysOf,
} from './e2e/inspect.js';
import { type Stack, spawnWorker, startStack, WORKER_DIR, type WorkerProcess } from './e2e/stack.js';

const address = inject('temporalAddress');
const TASK_QUEUE = `e2e-${process.pid}`;
let dir: string;
let stack: Stack;
const ceremonies: string[] = [];
const workers: WorkerProcess[] = [];
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

beforeAll(async () => {
  // The worker child runs the build: compile it from the sources under test.
  execFileSync(join(WORKER_DIR, '../../node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
    cwd: WORKER_DIR,
  });
  dir = await mkdtemp(join(tmpdir(), 'byok-e2e-'));
  stack = await startStack(dir, address, TASK_QUEUE);
}, 180_000);

/** Every worker of a test is stopped when the test ends, pass or fail: a stray worker would steal tasks. */
async function withWorker<T>(env: NodeJS.ProcessEnv, use: (w: WorkerProcess) => Promise<T>): Promise<T> {
  const worker = await spawnWorker(stack, env);
  workers.push(worker);
  try {
    return await use(worker);
  } finally {
    await worker.stop('SIGKILL');
  }
}

/** The AWS alias of a definition (`alias/<ceremony id>` in these tests). */
function aliasOf(def: CeremonyDefinition): string {
  if (def.target.cloud !== 'aws' || !def.target.alias) throw new Error(`${def.ceremonyId} has no AWS alias`);
  return def.target.alias;
}

/** The `data` of the first audit event of `type` (the evidence the ceremony keeps). */
async function auditData(handle: WorkflowHandle, type: string): Promise<Record<string, unknown>> {
  const event = (await handle.query(auditQuery)).find((e) => e.type === type);
  if (!event) throw new Error(`${handle.workflowId} has no ${type} event`);
  return event.data as Record<string, unknown>;
}

/** Waits until Temporal holds heartbeat details of a running `activity` of the ceremony; returns them decoded. */
async function heartbeatCheckpoint(handle: WorkflowHandle, activity: string): Promise<unknown> {
  const until = Date.now() + 30_000;
  for (;;) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    const payload = pending.find((a) => a.activityType?.name === activity)?.heartbeatDetails?.payloads?.[0];
    if (payload) {
      const [plain] = await stack.codec.decode([payload as Payload]);
      const text = Buffer.from(plain?.data ?? new Uint8Array()).toString('utf8');
      const value: unknown = text ? JSON.parse(text) : undefined;
      if (value) return value;
    }
    if (Date.now() > until) throw new Error(`${handle.workflowId}: no heartbeat details from ${activity}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * What an AWS ceremony must leave: exactly one KMS key with its tag, Enabled, named by its alias, holding the
 * HSM's material (the same AES block from both copies), and one key in the HSM.
 */
async function expectOneImportedAwsKey(def: CeremonyDefinition, result: CeremonyOutcome | undefined) {
  const id = def.ceremonyId;
  expect(result?.status, id).toBe('completed');
  const keys = await kmsKeysOf(stack, id);
  expect(keys, id).toEqual([{ keyId: expect.any(String), state: 'Enabled' }]);
  const keyId = keys[0]?.keyId ?? '';
  expect(result?.cloudKeyId, id).toMatch(new RegExp(`:key/${keyId}$`));
  expect(await kmsAliasTarget(stack, aliasOf(def)), id).toBe(keyId);
  const hsm = await hsmKeys(stack, def.hsm.keyLabel, def.key);
  expect(hsm.count, id).toBe(1);
  expect(kmsAesBlock(stack, keyId), id).toEqual(hsm.aesBlock);
}

afterAll(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  await stack?.close();
  if (dir && !process.env.BYOK_KEEP_E2E) await rm(dir, { recursive: true, force: true });
});

describe('ceremonies end to end (dev server, emulators, SoftHSM, worker child process)', () => {
  it('Azure Key Vault RSA-2048, 2 of 3: imported once, and the cloud key signs for the HSM public key', () =>
    withWorker({}, async () => {
      const client = await stack.client(address);
      const def = ceremonyDefinition(`az-rsa-${run}`, {
        cloud: 'azure',
        vaultUrl: stack.kv.url,
        spec: 'CKK_RSA, 2048, none',
      });
      ceremonies.push(def.ceremonyId);
      const handle = await startCeremony(client, TASK_QUEUE, def);
      await approveTwice(handle);
      const result = await outcome(handle);
      expect(result.status).toBe('completed');
      expect(result.cloudKeyId).toContain(`/keys/${def.ceremonyId}`);

      const hsm = await hsmKeys(stack, def.hsm.keyLabel, def.key);
      expect(hsm.count).toBe(1);
      expect(await azureVersions(stack, def.ceremonyId)).toBe(1);
      // Use the imported key: the cloud signs, the HSM's public key verifies.
      const message = randomBytes(64);
      const crypto = keyClient(stack).getCryptographyClient(def.ceremonyId);
      const signed = await crypto.signData('RS256', message);
      expect(
        verify('sha256', message, hsm.publicKey ?? createPublicKey(''), Buffer.from(signed.result)),
      ).toBe(true);
      // The KEK was deleted after the import (definition default).
      const audit = JSON.parse(await readFile(result.evidence?.jsonPath ?? '', 'utf8')) as {
        events: { type: string }[];
      };
      expect(audit.events.map((e) => e.type)).toEqual(
        expect.arrayContaining([
          'step.prepare-import',
          'step.wrap',
          'step.import',
          'step.verify',
          'step.cleanup',
        ]),
      );
    }));

  it('AWS KMS SYMMETRIC_DEFAULT (RSAES_OAEP_SHA_1), 2 of 3: one Enabled key whose material is the HSM copy', () =>
    withWorker({}, async () => {
      const client = await stack.client(address);
      const def = ceremonyDefinition(`aws-aes-${run}`, {
        cloud: 'aws',
        region: stack.kms.region,
        spec: 'CKK_AES, 256, none',
      });
      ceremonies.push(def.ceremonyId);
      const handle = await startCeremony(client, TASK_QUEUE, def);
      await approveTwice(handle);
      const result = await outcome(handle);
      // KMS ciphertexts cannot be reproduced outside KMS; the material the emulator unwrapped can: the HSM's
      // copy and the cloud's copy encrypt the same block identically. The alias names the imported key.
      await expectOneImportedAwsKey(def, result);
      const alias = aliasOf(def);
      expect(alias).toBe(`alias/${def.ceremonyId}`);
      // The evidence names the alias: created with the key, checked after the import.
      expect(await auditData(handle, 'step.preflight')).toMatchObject({ cloudNotes: [`${alias} is free`] });
      expect(await auditData(handle, 'step.prepare-import')).toMatchObject({
        alias,
        created: [expect.stringMatching(/^aws-kms-key arn:aws:kms:/), `aws-kms-alias ${alias}`],
      });
      expect(await auditData(handle, 'step.import')).toMatchObject({ alias });
      expect((await auditData(handle, 'step.verify')).checks).toEqual([
        expect.stringMatching(/^cloud-encrypt-decrypt: /),
        `alias-resolves: DescribeKey ${alias} resolves to the imported key ${result.cloudKeyId}`,
      ]);
    }));

  it('AWS alias already naming another key: preflight fails with one clear line, before approvals, creating nothing', () =>
    withWorker({}, async () => {
      const client = await stack.client(address);
      const def = ceremonyDefinition(`aws-taken-${run}`, {
        cloud: 'aws',
        region: stack.kms.region,
        spec: 'CKK_AES, 256, none',
      });
      const alias = aliasOf(def);
      const kms = kmsClient(stack);
      const foreign = (await kms.send(new CreateKeyCommand({ Description: 'not a ceremony key' })))
        .KeyMetadata;
      await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: foreign?.KeyId }));
      kms.destroy();
      ceremonies.push(def.ceremonyId);
      const handle = await startCeremony(client, TASK_QUEUE, def);
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe('ALIAS_IN_USE');
      expect(cause.message).toBe(
        `AWS KMS: ${alias} already names ${foreign?.Arn}, a key not tagged byok-ceremony=${def.ceremonyId}: ` +
          'choose another alias, or delete that alias first (nothing was created)',
      );
      const progress = await handle.query(progressQuery);
      expect(progress).toMatchObject({ status: 'failed', completedSteps: [] });
      expect(progress.decisions).toEqual([]);
      // Nothing created: no key of this ceremony, the alias still names the other key, no HSM key.
      expect(await kmsKeysOf(stack, def.ceremonyId)).toEqual([]);
      expect(await kmsAliasTarget(stack, alias)).toBe(foreign?.KeyId);
      expect((await hsmKeys(stack, def.hsm.keyLabel, def.key)).count).toBe(0);
    }));

  it('AWS: SIGKILL of the worker inside each AWS activity and right after CreateKey: each ceremony completes once', async () => {
    // Crash points: activities hang after their work; afterCreateKey hangs right after CreateKey answered and
    // the key id was heartbeated, afterCreateKeyUnrecorded before that heartbeat.
    const points = [
      'preflightCloud',
      'prepareImport',
      'afterCreateKey',
      'afterCreateKeyUnrecorded',
      'wrapTargetKey',
      'importWrappedKey',
      'verifyImport',
      'cleanupImport',
    ];
    const first = await spawnWorker(stack, { BYOK_TEST_CRASH_POINTS: '1' });
    workers.push(first);
    let second: WorkerProcess | undefined;
    try {
      const client = await stack.client(address);
      const defs = points.map((p) =>
        ceremonyDefinition(`awscrash-${run}-crash-${p}`, {
          cloud: 'aws',
          region: stack.kms.region,
          spec: 'CKK_AES, 256, none',
        }),
      );
      ceremonies.push(...defs.map((d) => d.ceremonyId));
      const handles = await Promise.all(defs.map((d) => startCeremony(client, TASK_QUEUE, d)));
      const at = (p: string): WorkflowHandle => handles[points.indexOf(p)] as WorkflowHandle;
      const approvals = handles.slice(1).map((h) => approveTwice(h));
      await first.waitFor(/"msg":"activity\.crash-point"/, 120_000, points.length);
      // The key id reached Temporal before the kill (the retry must find the key by it); the other one's did not.
      expect(await heartbeatCheckpoint(at('afterCreateKey'), 'prepareImport')).toEqual({
        awsKeyId: expect.stringMatching(/^arn:aws:kms:/),
      });
      // Right after CreateKey: one key each, no alias yet.
      for (const p of ['afterCreateKey', 'afterCreateKeyUnrecorded']) {
        const def = defs[points.indexOf(p)] as CeremonyDefinition;
        expect(await kmsKeysOf(stack, def.ceremonyId)).toEqual([
          { keyId: expect.any(String), state: 'PendingImport' },
        ]);
        expect(await kmsAliasTarget(stack, aliasOf(def))).toBeUndefined();
      }
      await first.stop('SIGKILL');
      second = await spawnWorker(stack);
      workers.push(second);
      await approveTwice(at('preflightCloud'));
      await Promise.all(approvals);
      const results = await Promise.all(handles.map((h) => outcome(h)));
      for (const [i, def] of defs.entries()) await expectOneImportedAwsKey(def, results[i]);
      // How each retried prepareImport found the key its first attempt made (no second CreateKey).
      const found = async (p: string) =>
        JSON.stringify((await auditData(at(p), 'step.prepare-import')).notes);
      expect(await found('prepareImport')).toContain('found by its alias');
      expect(await found('afterCreateKey')).toContain('found by the key id an earlier attempt recorded');
      expect(await found('afterCreateKeyUnrecorded')).toContain(`found by its tag byok-ceremony=`);
      expect(await found('wrapTargetKey')).not.toContain('reusing');
      // The import that happened before the kill is found, not repeated.
      expect(await auditData(at('importWrappedKey'), 'step.import')).toMatchObject({ alreadyImported: true });
      const retried = second.log();
      for (const p of points.filter((x) => !x.startsWith('afterCreateKey')))
        expect(retried).toContain(`"activity":"${p}"`);
    } finally {
      await first.stop('SIGKILL');
      await second?.stop();
    }
  }, 240_000);

  it('AWS compensation: cancelled after the key and alias exist, or while prepareImport runs, nothing is left', async () => {
    const first = await spawnWorker(stack, { BYOK_TEST_CRASH_POINTS: '1' });
    workers.push(first);
    try {
      const client = await stack.client(address);
      const aws = { cloud: 'aws', region: stack.kms.region, spec: 'CKK_AES, 256, none' } as const;
      // Hangs after the wrap: the key and alias exist, the HSM key was generated, nothing imported.
      const afterWrap = ceremonyDefinition(`awscancel-${run}-crash-wrapTargetKey`, aws);
      // Hangs inside prepareImport right after CreateKey: no preparation ever reaches the workflow.
      const inPrepare = ceremonyDefinition(`awscancel-${run}-crash-afterCreateKey`, aws);
      const defs = [afterWrap, inPrepare];
      ceremonies.push(...defs.map((d) => d.ceremonyId));
      const handles = await Promise.all(defs.map((d) => startCeremony(client, TASK_QUEUE, d)));
      await Promise.all(handles.map((h) => approveTwice(h)));
      await first.waitFor(/"msg":"activity\.crash-point"/, 60_000, 2);
      const [made] = await kmsKeysOf(stack, afterWrap.ceremonyId);
      expect(made).toMatchObject({ state: 'PendingImport' });
      expect(await kmsAliasTarget(stack, aliasOf(afterWrap))).toBe(made?.keyId);
      expect((await hsmKeys(stack, afterWrap.hsm.keyLabel, afterWrap.key)).count).toBe(1);
      const [inFlight] = await kmsKeysOf(stack, inPrepare.ceremonyId);
      expect(inFlight).toMatchObject({ state: 'PendingImport' });

      for (const h of handles) {
        await h.executeUpdate(cancelUpdate, { args: [{ actor: 'requester:carol', reason: 'wrong alias' }] });
      }
      const results = await Promise.all(handles.map((h) => outcome(h)));
      expect(results.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
      // Alias gone, key scheduled for deletion, the generated HSM key destroyed.
      expect(await kmsKeysOf(stack, afterWrap.ceremonyId)).toEqual([
        { keyId: made?.keyId, state: 'PendingDeletion' },
      ]);
      expect(await kmsAliasTarget(stack, aliasOf(afterWrap))).toBeUndefined();
      expect((await hsmKeys(stack, afterWrap.hsm.keyLabel, afterWrap.key)).count).toBe(0);
      expect(await kmsKeysOf(stack, inPrepare.ceremonyId)).toEqual([
        { keyId: inFlight?.keyId, state: 'PendingDeletion' },
      ]);
      expect(await kmsAliasTarget(stack, aliasOf(inPrepare))).toBeUndefined();
      expect((await hsmKeys(stack, inPrepare.hsm.keyLabel, inPrepare.key)).count).toBe(0);

      // The evidence records each compensation with what it removed.
      type Events = { events: { type: string; data: Record<string, unknown> }[] };
      const evidence = async (r: CeremonyOutcome) =>
        (JSON.parse(await readFile(r.evidence?.jsonPath ?? '', 'utf8')) as Events).events.filter(
          (e) => e.type === 'compensation.done',
        );
      const arn = (keyId: string | undefined) => expect.stringMatching(new RegExp(`:key/${keyId}$`));
      expect(await evidence(results[0] as CeremonyOutcome)).toEqual([
        expect.objectContaining({ data: expect.objectContaining({ step: 'destroy generated HSM key' }) }),
        expect.objectContaining({
          data: expect.objectContaining({
            step: expect.stringMatching(/^discard import parameters/),
            deleted: [aliasOf(afterWrap)],
            scheduledForDeletion: [arn(made?.keyId)],
          }),
        }),
      ]);
      expect(await evidence(results[1] as CeremonyOutcome)).toEqual([
        expect.objectContaining({
          data: expect.objectContaining({
            step: expect.stringMatching(/^discard import parameters/),
            deleted: [],
            scheduledForDeletion: [arn(inFlight?.keyId)],
          }),
        }),
      ]);
    } finally {
      await first.stop('SIGKILL');
    }
  }, 180_000);

  it('Azure compensation: cancelled while prepareImport holds a new KEK, the KEK is deleted', async () => {
    const first = await spawnWorker(stack, { BYOK_TEST_CRASH_POINTS: '1' });
    workers.push(first);
    try {
      const client = await stack.client(address);
      // Hangs after prepareImport created the KEK: its answer never reaches the workflow.
      const def = ceremonyDefinition(`azcancel-${run}-crash-prepareImport`, {
        cloud: 'azure',
        vaultUrl: stack.kv.url,
        spec: 'CKK_RSA, 2048, none',
      });
      ceremonies.push(def.ceremonyId);
      if (def.target.cloud !== 'azure') throw new Error('an Azure ceremony');
      const kekName = def.target.kek.name;
      const handle = await startCeremony(client, TASK_QUEUE, def);
      await approveTwice(handle);
      await first.waitFor(/"msg":"activity\.crash-point"/);
      const kek = await keyClient(stack).getKey(kekName);
      expect(kek.properties.tags).toMatchObject({ 'byok-ceremony': def.ceremonyId });
      await handle.executeUpdate(cancelUpdate, {
        args: [{ actor: 'requester:carol', reason: 'wrong vault' }],
      });
      const result = await outcome(handle);
      expect(result.status).toBe('cancelled');
      expect(await azureVersions(stack, kekName).catch(() => 0)).toBe(0);
      await expect(keyClient(stack).getKey(kekName)).rejects.toMatchObject({ statusCode: 404 });
      expect(await azureVersions(stack, def.target.keyName).catch(() => 0)).toBe(0);
      const events = (
        JSON.parse(await readFile(result.evidence?.jsonPath ?? '', 'utf8')) as {
          events: { type: string; data: Record<string, unknown> }[];
        }
      ).events.filter((e) => e.type === 'compensation.done');
      expect(events).toContainEqual(
        expect.objectContaining({
          data: expect.objectContaining({
            step: expect.stringMatching(/^discard import parameters/),
            deleted: [expect.stringContaining(`/keys/${kekName}`)],
          }),
        }),
      );
    } finally {
      await first.stop('SIGKILL');
    }
  }, 120_000);

  it('AWS import token expired between wrap and import: new parameters, wrapped again, imported once', async () => {
    // The wrap of this ceremony hangs after wrapping (test hook); meanwhile the KMS clock jumps 25 h, so the
    // token it wrapped for is stale when a new worker retries and imports.
    const first = await spawnWorker(stack, { BYOK_TEST_CRASH_POINTS: '1' });
    workers.push(first);
    let second: WorkerProcess | undefined;
    try {
      const client = await stack.client(address);
      const def = ceremonyDefinition(`aws-expiry-${run}-crash-wrapTargetKey`, {
        cloud: 'aws',
        region: stack.kms.region,
        spec: 'CKK_AES, 256, none',
      });
      ceremonies.push(def.ceremonyId);
      const handle = await startCeremony(client, TASK_QUEUE, def);
      await approveTwice(handle);
      await first.waitFor(/"msg":"activity\.crash-point"/);
      stack.kms.clock.advance(25 * 3600_000);
      await first.stop('SIGKILL');
      second = await spawnWorker(stack);
      workers.push(second);
      expect((await outcome(handle)).status).toBe('completed');
      const types = (await handle.query(auditQuery)).map((e) => e.type);
      expect(types).toContain('import.token-expired');
      expect(types.filter((t) => t === 'step.wrap')).toHaveLength(2);
      expect(types.filter((t) => t === 'step.refresh-import-parameters')).toHaveLength(1);
      expect((await hsmKeys(stack, def.hsm.keyLabel, def.key)).count).toBe(1);
      expect(await kmsKeysOf(stack, def.ceremonyId)).toEqual([
        { keyId: expect.any(String), state: 'Enabled' },
      ]);
    } finally {
      stack.kms.clock.advance(-stack.kms.clock.offsetMs);
      await first.stop('SIGKILL');
      await second?.stop();
    }
  }, 120_000);

  it('the ceremony CLI: start, approve, cancel rights, cancel mid-ceremony compensates, status, list, evidence', async () => {
    const first = await spawnWorker(stack, { BYOK_TEST_CRASH_POINTS: '1' });
    workers.push(first);
    try {
      const env = { ...process.env, ...stack.env, TEMPORAL_ADDRESS: address };
      // Asynchronous on purpose: the emulators live in this process and must keep answering meanwhile.
      const cli = (...args: string[]) =>
        new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            [join(WORKER_DIR, 'dist/cli/main.js'), ...args],
            { env, encoding: 'utf8', timeout: 60_000 },
            (err, stdout, stderr) =>
              resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
          );
        });
      const id = `cli-${run}-crash-wrapTargetKey`;
      const file = join(dir, `${id}.json`);
      await writeFile(
        file,
        JSON.stringify(
          rawDefinition(id, { cloud: 'azure', vaultUrl: stack.kv.url, spec: 'CKK_EC, 256, P-256' }),
        ),
      );
      for (const who of ['alice', 'bob'] as const)
        await writeFile(join(dir, `${who}.key`), APPROVERS[who].privateKeyPem, { mode: 0o600 });
      ceremonies.push(id);
      const started = await cli('start', file, '--admin', 'eve', '--output', 'json');
      expect(started.status, started.stderr).toBe(0);
      expect(JSON.parse(started.stdout)).toMatchObject({
        ceremonyId: id,
        digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      const client = await stack.client(address);
      await waitForStatus(client.workflow.getHandle(id), 'awaiting-approvals');
      for (const who of ['alice', 'bob']) {
        const approved = await cli('approve', id, '--approver', who, '--key', join(dir, `${who}.key`));
        expect(approved.status, approved.stderr).toBe(0);
      }
      // After the wrap (the KEK exists, the HSM key was generated), the ceremony hangs in the test hook.
      await first.waitFor(/"msg":"activity\.crash-point"/);
      const forbidden = await cli('cancel', id, '--as', 'approver:alice', '--reason', 'x');
      expect(forbidden.status).toBe(1);
      expect(forbidden.stderr).toMatch(/^error: CANCEL_FORBIDDEN: /);
      const cancelled = await cli('cancel', id, '--as', 'admin:eve', '--reason', 'operator stopped the demo');
      expect(cancelled.status, cancelled.stderr).toBe(0);
      const status = await cli('status', id, '--wait', '--output', 'json');
      expect(JSON.parse(status.stdout)).toMatchObject({ status: 'cancelled' });
      expect((await cli('status', id)).stdout).toMatch(/status\s+cancelled/);
      // Compensated: the HSM key it generated is destroyed, the KEK it created deleted, nothing imported.
      expect((await hsmKeys(stack, `${id}-key`, { kind: 'ec', bits: 256, curve: 'P-256' })).count).toBe(0);
      await expect(keyClient(stack).getKey(`${id}-kek`)).rejects.toMatchObject({ statusCode: 404 });
      const listed = await cli('list', '--status', 'cancelled', '--output', 'json');
      expect(
        (JSON.parse(listed.stdout) as { ceremonies: { id: string }[] }).ceremonies.map((c) => c.id),
      ).toContain(id);
      const exported = await cli('evidence', id, '--out', dir);
      expect(exported.status, exported.stderr).toBe(0);
      const audit = JSON.parse(await readFile(join(dir, `${id}.audit.json`), 'utf8')) as {
        events: { type: string; actor: string }[];
      };
      expect(audit.events.filter((e) => e.type === 'compensation.done')).toHaveLength(2);
      expect(audit.events.at(-1)).toMatchObject({ type: 'ceremony.cancelled', actor: 'admin:eve' });
    } finally {
      await first.stop('SIGKILL');
    }
  }, 120_000);

  it('SIGKILL of the worker inside each activity: a new worker finishes every ceremony exactly once', async () => {
    const points = [
      'preflightHsm',
      'preflightCloud',
      'prepareImport',
      'wrapTargetKey',
      'importWrappedKey',
      'verifyImport',
      'cleanupImport',
      'writeEvidence',
    ];
    const first = await spawnWorker(stack, { BYOK_TEST_CRASH_POINTS: '1' });
    workers.push(first);
    let second: WorkerProcess | undefined;
    try {
      const client = await stack.client(address);
      const defs = points.map((p) =>
        ceremonyDefinition(`crash-${run}-crash-${p}`, {
          cloud: 'azure',
          vaultUrl: stack.kv.url,
          spec: 'CKK_EC, 256, P-256',
        }),
      );
      ceremonies.push(...defs.map((d) => d.ceremonyId));
      const handles = await Promise.all(defs.map((d) => startCeremony(client, TASK_QUEUE, d)));
      // Approve those that get that far (the two preflight crash points hold theirs before the approvals).
      const approvals = handles.slice(2).map((h) => approveTwice(h));
      await first.waitFor(/"msg":"activity\.crash-point"/, 120_000, points.length);
      await first.stop('SIGKILL');
      second = await spawnWorker(stack);
      workers.push(second);
      await Promise.all(handles.slice(0, 2).map((h) => approveTwice(h)));
      await Promise.all(approvals);
      const results = await Promise.all(handles.map((h) => outcome(h)));
      for (const [i, def] of defs.entries()) {
        expect(results[i]?.status, def.ceremonyId).toBe('completed');
        expect((await hsmKeys(stack, def.hsm.keyLabel, def.key)).count, def.ceremonyId).toBe(1);
        expect(await azureVersions(stack, def.ceremonyId), def.ceremonyId).toBe(1);
      }
      // Each crash point really was hit in the first worker and retried in the second.
      const retried = second.log();
      for (const p of points) expect(retried).toContain(`"activity":"${p}"`);
    } finally {
      await first.stop('SIGKILL');
      await second?.stop();
    }
  }, 240_000);

  it('killing the Temporal server (SIGKILL) mid-ceremony and restarting it on the same SQLite file: the ceremony resumes', async () => {
    const port = await freePort();
    const dbFile = join(dir, 'restart.db');
    let server: DevServer = await startDevServer({
      dbFile,
      port,
      searchAttributes: CEREMONY_SEARCH_ATTRIBUTES,
    });
    const worker = await spawnWorker(stack, { TEMPORAL_ADDRESS: server.address });
    workers.push(worker);
    try {
      const client = await stack.client(server.address);
      const def = ceremonyDefinition(`restart-${run}`, {
        cloud: 'azure',
        vaultUrl: stack.kv.url,
        spec: 'CKK_EC, 256, P-256',
      });
      const handle = await startCeremony(client, TASK_QUEUE, def);
      await waitForStatus(handle, 'awaiting-approvals');
      // A crash, not a shutdown: what SQLite committed (WAL, synchronous=NORMAL) must all be there.
      await server.kill();
      server = await startDevServer({ dbFile, port, searchAttributes: CEREMONY_SEARCH_ATTRIBUTES });
      const again = (await stack.client(server.address)).workflow.getHandle(def.ceremonyId);
      await approveTwice(again);
      expect((await outcome(again)).status).toBe('completed');
      expect(await azureVersions(stack, def.ceremonyId)).toBe(1);
    } finally {
      await worker.stop();
      await server.stop();
    }
  }, 180_000);

  it('secrets: no PIN, credential or key byte in any ceremony history (decoded) or worker log', async () => {
    const client = await stack.client(address);
    const secrets = [stack.pin, stack.codecKey.toString('base64'), ...emulatorSecrets(stack)];
    expect(secrets.length).toBeGreaterThan(10);
    let texts = '';
    for (const id of ceremonies) {
      const history = await client.workflow.getHandle(id).fetchHistory();
      const payloads: Payload[] = [];
      const walk = (v: unknown): void => {
        if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return;
        const p = v as Payload;
        if (p.metadata && p.data instanceof Uint8Array) payloads.push(p);
        for (const x of Object.values(v)) walk(x);
      };
      walk(history);
      expect(payloads.length).toBeGreaterThan(5);
      for (const p of payloads) {
        const encoding = Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString();
        // Everything the worker and clients send is encrypted; decoded here to search the plaintext too.
        if (encoding === ENCRYPTED_ENCODING) {
          const [plain] = await stack.codec.decode([p]);
          texts += Buffer.from(plain?.data ?? new Uint8Array()).toString('utf8');
        } else texts += Buffer.from(p.data ?? new Uint8Array()).toString('utf8');
      }
      texts += JSON.stringify(history);
    }
    const logs = workers.map((w) => w.log()).join('\n');
    expect(logs).toContain('activity.done');
    for (const s of secrets) {
      expect(texts.includes(s), 'a secret in a history').toBe(false);
      expect(logs.includes(s), 'a secret in a worker log').toBe(false);
    }
  });
});
