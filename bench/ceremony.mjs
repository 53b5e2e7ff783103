// The ceremony engine's cost: N concurrent 2-of-3 ceremonies with automatic approvers on ONE worker (a child
// process) against the real Temporal dev server + the KMS emulator + SoftHSM; then the same activities called
// directly in a loop (no Temporal) as the baseline. Prints figures, asserts nothing.
//
// Target: AWS KMS SYMMETRIC_DEFAULT (AES-256 generated in SoftHSM, RSAES_OAEP_SHA_1 under an RSA_2048 wrapping
// key): 100 RSA keygens in SoftHSM would make the HSM, not the engine, the bottleneck. Each ceremony still
// costs one RSA-2048 keygen in the emulator (GetParametersForImport's wrapping key).
//
// Engine overhead per ceremony = end to end (start -> result at the client, approvals included) minus the
// ceremony's activity time on its critical path (max of the two parallel preflights + every later activity),
// taken from the worker's own JSON log lines.
//
// Usage: node bench/ceremony.mjs [--n 50,100] [--baseline 20]     (after scripts/setup.sh or pnpm build)
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fromWorker = createRequire(join(root, 'apps/worker/package.json'));
const load = (spec) => import(pathToFileURL(fromWorker.resolve(spec)).href);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SIZES = arg('n', '50,100').split(',').map(Number);
const BASELINE = Number(arg('baseline', '20'));
// Also K ceremonies one at a time on a warm worker: the engine's own cost when nothing queues.
const SEQUENTIAL = Number(arg('sequential', '10'));

const { Client, Connection } = await load('@temporalio/client');
const worker = await import(pathToFileURL(join(root, 'apps/worker/dist/index.js')).href);
const core = await import(pathToFileURL(join(root, 'packages/core/dist/ceremony/index.js')).href);
const temporalDev = await import(pathToFileURL(join(root, 'infra/temporal/dist/index.js')).href);

const dir = mkdtempSync(join(tmpdir(), 'byok-bench-ceremony-'));
const children = [];
let server;
let kms;
const stopAll = async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await kms?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

try {
  // SoftHSM token, secrets in 0600 files.
  const conf = join(dir, 'softhsm2.conf');
  mkdirSync(join(dir, 'tokens'));
  writeFileSync(
    conf,
    `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  const pin = randomBytes(8).toString('hex');
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', 'bench', '--pin', pin, '--so-pin', pin],
    {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: 'ignore',
    },
  );
  const secret = (name, value) => {
    writeFileSync(join(dir, name), value, { mode: 0o600 });
    return join(dir, name);
  };
  const lib = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find(
    (p) => {
      try {
        readFileSync(p);
        return true;
      } catch {
        return false;
      }
    },
  );
  server = await temporalDev.startDevServer({
    dbFile: join(dir, 'temporal.db'),
    searchAttributes: temporalDev.CEREMONY_SEARCH_ATTRIBUTES,
  });
  // The emulators run in their own process, as a cloud service is remote: in this process their CPU work
  // would delay the client's approvals and count as overhead. GetParametersForImport's RSA-2048 wrapping
  // keys are generated before the run (--kms-wrapping-key-pool): the real KMS makes them on its own
  // hardware, here they would take the two cores from the worker and the Temporal server.
  const poolSize = SIZES.reduce((a, b) => a + b, 0) + BASELINE + 10;
  const emulatorProcess = spawn(
    process.execPath,
    [
      join(root, 'infra/emulators/dist/cli.js'),
      'start',
      '--state',
      join(dir, 'emulators'),
      '--kms-wrapping-key-pool',
      String(poolSize),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(emulatorProcess);
  const endpoints = await new Promise((resolve, reject) => {
    let text = '';
    emulatorProcess.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve(JSON.parse(text.slice(0, text.indexOf('\n'))));
    });
    emulatorProcess.once('exit', (code) => reject(new Error(`emulators exited with ${code}`)));
  });
  kms = { ...endpoints.kms, close: async () => {} };
  const creds = { accessKeyId: endpoints.kms.accessKeyId, secretAccessKey: endpoints.kms.secretAccessKey };
  const codecKey = randomBytes(32);
  const configFile = join(dir, 'worker.yaml');
  writeFileSync(
    configFile,
    [
      `temporal: { address: '${server.address}', taskQueue: bench }`,
      `codec: { keys: [{ id: bench, file: '${secret('codec.key', codecKey.toString('base64'))}' }] }`,
      `evidenceDir: '${join(dir, 'evidence')}'`,
      `hsmProfiles: { softhsm: { library: '${lib}', tokenLabel: bench, pin: { file: '${secret('pin', pin)}' }, oaepHashes: [sha1] } }`,
      `clouds: { aws: [{ region: ${kms.region}, endpoint: '${kms.endpoint}', accessKeyId: { file: '${secret('id', creds.accessKeyId)}' }, secretAccessKey: { file: '${secret('sk', creds.secretAccessKey)}' } }] }`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SOFTHSM2_CONF: conf, BYOK_WORKER_CONFIG: configFile, BYOK_LOG_LEVEL: 'info' };
  const approvers = ['alice', 'bob', 'dave'].map((id) => ({
    id,
    keys: core.generateApproverKeyPair('ed25519'),
  }));
  const definition = (id) =>
    core.validateCeremonyDefinition({
      version: 1,
      id,
      requester: 'carol',
      key: { spec: 'CKK_AES, 256, none' },
      hsm: { profile: 'softhsm', keyLabel: id, createIfMissing: true },
      target: {
        aws: {
          region: kms.region,
          alias: `alias/${id}`,
          wrappingAlgorithms: ['RSAES_OAEP_SHA_1'],
          wrappingKeySpec: 'RSA_2048',
          expiration: { model: 'DOES_NOT_EXPIRE' },
        },
      },
      quorum: {
        required: 2,
        window: '1h',
        vetoOnReject: true,
        approvers: approvers.map((a) => ({ id: a.id, role: 'custodian', publicKey: a.keys.publicKeyPem })),
      },
      deadlines: { overall: '2h' },
    });

  const connection = await Connection.connect({ address: server.address });
  const client = new Client({
    connection,
    dataConverter: { payloadCodecs: [new worker.AesGcmPayloadCodec([{ id: 'bench', key: codecKey }])] },
  });

  const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
  };
  const ms = (x) => `${x.toFixed(0)} ms`;

  const rounds = [
    ...SIZES.map((n) => ({ n, sequential: false })),
    ...(SEQUENTIAL > 0 ? [{ n: SEQUENTIAL, sequential: true }] : []),
  ];
  for (const { n, sequential } of rounds) {
    const logFile = join(dir, `worker-${n}.log`);
    const out = createWriteStream(logFile);
    const profile = arg('profile', undefined); // a folder: CPU profiles of the worker (all threads)
    const execArgv = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
    const child = spawn(process.execPath, [...execArgv, join(root, 'apps/worker/dist/main.js')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    const readLog = () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    };
    while (!readLog().includes('worker.started')) {
      if (child.exitCode !== null) throw new Error(`worker exited: ${readLog()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    let peakKb = 0;
    const sampler = setInterval(() => {
      try {
        const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
      } catch {}
    }, 200);

    const run = `b${n}${sequential ? 's' : ''}-${Date.now().toString(36)}`;
    const e2e = new Map();
    let failed = 0;
    const one = async (i, record = true) => {
      const def = definition(`${run}-${i}`);
      const start = performance.now();
      const digest = core.ceremonyDigest(def);
      const handle = await client.workflow.start('ceremonyWorkflow', {
        workflowId: def.ceremonyId,
        taskQueue: 'bench',
        args: [{ definition: def, expectedDigest: digest }],
      });
      // Automatic approvers: the quorum opens with the ceremony, so they sign at once.
      for (const a of approvers.slice(0, 2)) {
        await handle.executeUpdate('approve', {
          args: [
            core.createApproval({
              approverId: a.id,
              decision: 'approve',
              digest,
              privateKey: a.keys.privateKeyPem,
            }),
          ],
        });
      }
      const result = await handle.result().catch(() => ({ status: 'failed' }));
      if (result.status !== 'completed') failed++;
      if (record) e2e.set(def.ceremonyId, performance.now() - start);
    };
    if (sequential) await one('warm-up', false); // the worker's first ceremony compiles and caches
    const t0 = performance.now();
    if (sequential) for (let i = 0; i < n; i++) await one(i);
    else await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
    const wall = performance.now() - t0;
    clearInterval(sampler);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));

    // Activity time per ceremony from the worker's log: parallel preflights count once (the longer).
    const steps = new Map();
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      if (!line.includes('"activity.done"')) continue;
      const e = JSON.parse(line);
      const s = steps.get(e.ceremonyId) ?? { pre: 0, rest: 0 };
      if (e.activity === 'preflightHsm' || e.activity === 'preflightCloud') s.pre = Math.max(s.pre, e.ms);
      else s.rest += e.ms;
      steps.set(e.ceremonyId, s);
    }
    const overhead = [...e2e].map(([id, t]) => t - ((steps.get(id)?.pre ?? 0) + (steps.get(id)?.rest ?? 0)));
    // Where the rest goes, from each ceremony's history: waiting for a worker slot (activity and workflow
    // tasks scheduled but not started), workflow task execution, and the approvals' arrival.
    const breakdown = { activityQueue: [], workflowQueue: [], workflowRun: [], quorumAt: [] };
    for (const id of e2e.keys()) {
      const history = await client.workflow.getHandle(id).fetchHistory();
      const at = (e) => Number(e.eventTime.seconds) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6);
      const scheduled = new Map();
      let started0;
      let aq = 0;
      let wq = 0;
      let wr = 0;
      let updates = 0;
      let quorum;
      for (const e of history.events) {
        const t = at(e);
        started0 ??= t;
        const id = Number(e.eventId);
        if (e.activityTaskScheduledEventAttributes || e.workflowTaskScheduledEventAttributes)
          scheduled.set(id, t);
        if (e.activityTaskStartedEventAttributes)
          aq += t - (scheduled.get(Number(e.activityTaskStartedEventAttributes.scheduledEventId)) ?? t);
        if (e.workflowTaskStartedEventAttributes) {
          wq += t - (scheduled.get(Number(e.workflowTaskStartedEventAttributes.scheduledEventId)) ?? t);
          scheduled.set(id, t);
        }
        if (e.workflowTaskCompletedEventAttributes)
          wr += t - (scheduled.get(Number(e.workflowTaskCompletedEventAttributes.startedEventId)) ?? t);
        if (e.workflowExecutionUpdateCompletedEventAttributes && ++updates === 2) quorum = t - started0;
      }
      breakdown.activityQueue.push(aq);
      breakdown.workflowQueue.push(wq);
      breakdown.workflowRun.push(wr);
      if (quorum !== undefined) breakdown.quorumAt.push(quorum);
    }
    const activity = [...steps.values()].map((s) => s.pre + s.rest);
    console.log(
      [
        `${sequential ? `${n} ceremonies one at a time (after one warm-up)` : `N=${n} concurrent ceremonies`}, 1 worker: ${n - failed} completed, ${failed} failed, wall ${ms(wall)}`,
        `  throughput          ${((n - failed) / (wall / 1000)).toFixed(2)} ceremonies/s`,
        `  end to end          p50 ${ms(pct([...e2e.values()], 50))}  p95 ${ms(pct([...e2e.values()], 95))}`,
        `  activity time       p50 ${ms(pct(activity, 50))}  p95 ${ms(pct(activity, 95))}`,
        `  engine overhead     p50 ${ms(pct(overhead, 50))}  p95 ${ms(pct(overhead, 95))}`,
        `    activity tasks waiting for a worker slot  p50 ${ms(pct(breakdown.activityQueue, 50))}  p95 ${ms(pct(breakdown.activityQueue, 95))}`,
        `    workflow tasks waiting for a worker slot  p50 ${ms(pct(breakdown.workflowQueue, 50))}  p95 ${ms(pct(breakdown.workflowQueue, 95))}`,
        `    workflow tasks running                    p50 ${ms(pct(breakdown.workflowRun, 50))}  p95 ${ms(pct(breakdown.workflowRun, 95))}`,
        `    second approval recorded after start      p50 ${ms(pct(breakdown.quorumAt, 50))}  p95 ${ms(pct(breakdown.quorumAt, 95))}`,
        `  worker peak RSS     ${(peakKb / 1024).toFixed(0)} MiB`,
      ].join('\n'),
    );
  }

  // Baseline: the same activities, called directly, one ceremony after another (no Temporal; the approvals
  // are signed in the loop, as the wrap step re-verifies them).
  process.env.SOFTHSM2_CONF = conf;
  const config = worker.loadWorkerConfig({ BYOK_WORKER_CONFIG: configFile, BYOK_LOG_LEVEL: 'warn' });
  process.env.BYOK_LOG_LEVEL = 'warn';
  const acts = worker.createCeremonyActivities(config);
  const times = [];
  const b0 = performance.now();
  for (let i = 0; i < BASELINE; i++) {
    const def = definition(`base-${Date.now().toString(36)}-${i}`);
    const t = performance.now();
    const step = { ceremonyId: def.ceremonyId, hsm: def.hsm, key: def.key, target: def.target };
    const pre = await acts.preflightHsm(step);
    await acts.preflightCloud(step);
    const preparation = await acts.prepareImport(step);
    const digest = core.ceremonyDigest(def);
    const openedAt = Date.now();
    const decisions = approvers.slice(0, 2).map((a, k) => ({
      ...core.createApproval({
        approverId: a.id,
        decision: 'approve',
        digest,
        privateKey: a.keys.privateKeyPem,
      }),
      receivedAt: openedAt + k,
    }));
    const wrapped = await acts.wrapTargetKey({
      ...step,
      approvals: { definition: def, openedAt, decisions },
      keyExisted: pre.keyExisted,
      wrap: {
        kekPem: preparation.kek.publicKeyPem,
        kekFingerprint: preparation.kek.fingerprint,
        format: preparation.wrap.format,
        oaepHash: preparation.wrap.oaepHash,
      },
    });
    const { imported } = await acts.importWrappedKey({ ...step, preparation, wrapped });
    await acts.verifyImport({ ...step, imported });
    await acts.cleanupImport({ ...step, preparation });
    times.push(performance.now() - t);
  }
  const bWall = performance.now() - b0;
  console.log(
    [
      `baseline: the same activities called directly in a loop, ${BASELINE} ceremonies (no evidence file)`,
      `  throughput          ${(BASELINE / (bWall / 1000)).toFixed(2)} ceremonies/s`,
      `  per ceremony        p50 ${ms(pct(times, 50))}  p95 ${ms(pct(times, 95))}`,
    ].join('\n'),
  );
  await connection.close();
} finally {
  await stopAll();
}
