// One end-to-end import per cloud through the built CLI (`hsmbyok azure byok`, RSA-2048 into a vault;
// `hsmbyok aws byok`, SYMMETRIC_DEFAULT) against the emulators and SoftHSM, with a per-step breakdown
// (prepare, wrap, import, verify), next to bench/clouds-baseline.cjs making the same SDK and PKCS#11 calls
// directly in a minimal script. Both run as fresh `node` processes, interleaved, same run; medians.
// Prints figures; asserts nothing. Usage: node bench/clouds.mjs [--runs N]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EMULATOR_AWS_CREDENTIALS,
  EMULATOR_TOKEN,
  startKeyVaultEmulator,
  startKmsEmulator,
} from '@byok/emulators';
import { createSoftHsm } from '@byok/testkit';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'apps', 'hsmbyok', 'bin', 'hsmbyok.cjs');
const baseline = join(here, 'clouds-baseline.cjs');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const PIN = '24681357';

const hsm = await createSoftHsm();
const token = await hsm.initToken('bench', { pin: PIN });
const state = mkdtempSync(join(tmpdir(), 'bench-clouds-'));
const kv = await startKeyVaultEmulator({ stateDir: join(state, 'kv'), mode: 'vault' });
const kms = await startKmsEmulator({ stateDir: join(state, 'kms'), credentials: EMULATOR_AWS_CREDENTIALS });
const work = join(hsm.dir, 'work');
mkdirSync(work, { recursive: true });
const env = {
  ...process.env,
  ...hsm.env,
  BENCH_PIN: PIN,
  BENCH_LIBRARY: hsm.libraryPath,
  BENCH_TOKEN: token.label,
  BENCH_VAULT: kv.url,
  BENCH_CA_PEM: kv.caCertPem,
  BENCH_AZURE_TOKEN: EMULATOR_TOKEN,
  BENCH_KMS: kms.endpoint,
  BENCH_REGION: kms.region,
  AZURE_ACCESS_TOKEN: EMULATOR_TOKEN,
  AWS_ACCESS_KEY_ID: EMULATOR_AWS_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: EMULATOR_AWS_CREDENTIALS.secretAccessKey,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

function writeConfig(keyName, spec) {
  writeFileSync(
    join(work, 'HsmConfig.ini'),
    [
      '[byok]',
      `libraryName = "${hsm.libraryPath}"`,
      `tokenLabel = "${token.label}"`,
      'wrappingCiphers = CKM_AES_KWP, CKG_MGF1_SHA1',
      'SchemaVersion = "1.0.0"',
      'kid = "https://bench.vault.azure.net/keys/kek/00"',
      `targetKeyName = "${keyName}"`,
      `targetKeySpec = ${spec}`,
      'targetKeyFlags = CKF_EXTRACTABLE, CKF_TOKEN, CKF_SIGN, CKF_VERIFY, CKF_ENCRYPT, CKF_DECRYPT, CKF_CREATE_IF_NOT_FOUND',
      '',
    ].join('\n'),
  );
}

/** Asynchronous on purpose: the emulators live in this process and must keep answering. */
function run(args) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd: work, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const total = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) reject(new Error(`node ${args.join(' ')} exited ${code}:\n${stdout}\n${stderr}`));
      else resolve({ total, doc: JSON.parse(stdout) });
    });
  });
}

/** The CLI's steps mapped onto the four the baseline has (opening the HSM counts as wrapping). */
function cliSteps(doc) {
  const s = Object.fromEntries(doc.steps.map((x) => [x.step, x.seconds]));
  return {
    prepare: s['prepare KEK'] ?? s.prepare,
    wrap: (s['open HSM'] ?? 0) + (s['wrap in the HSM'] ?? 0),
    import: s.import,
    verify: s.verify + (s['clean up'] ?? 0),
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const STEPS = ['prepare', 'wrap', 'import', 'verify'];

const scenarios = [
  {
    title: 'Azure RSA-2048 (azure byok, vault emulator)',
    spec: 'CKK_RSA, 2048, none',
    cli: (n) => [
      cli,
      'azure',
      'byok',
      '--vault',
      kv.url,
      '--ca-file',
      kv.caCertPath,
      '--name',
      n,
      '--kek-size',
      '2048',
      '--pin-env',
      'BENCH_PIN',
      '--json',
    ],
    base: (n) => [baseline, 'azure', n],
  },
  {
    title: 'AWS SYMMETRIC_DEFAULT (aws byok, KMS emulator, RSAES_OAEP_SHA_1)',
    spec: 'CKK_AES, 256, none',
    cli: () => [
      cli,
      'aws',
      'byok',
      '--region',
      kms.region,
      '--endpoint',
      kms.endpoint,
      '--wrapping-key-spec',
      'RSA_2048',
      '--pin-env',
      'BENCH_PIN',
      '--json',
    ],
    base: (n) => [baseline, 'aws', n],
  },
];

try {
  let n = 0;
  for (const sc of scenarios) {
    const ours = [];
    const theirs = [];
    for (let i = 0; i < RUNS; i += 1) {
      const order = i % 2 === 0 ? ['cli', 'base'] : ['base', 'cli'];
      for (const who of order) {
        n += 1;
        const name = `bench-${n}`;
        if (who === 'cli') {
          writeConfig(name, sc.spec);
          const r = await run(sc.cli(name));
          ours.push({ total: r.total, steps: cliSteps(r.doc) });
        } else {
          const r = await run(sc.base(name));
          theirs.push({ total: r.total, steps: r.doc.steps });
        }
      }
    }
    console.log(`\n${sc.title}: medians of ${RUNS} runs each (seconds)`);
    console.log('step       hsmbyok   baseline   ratio');
    for (const step of [...STEPS, 'total']) {
      const a = median(ours.map((r) => (step === 'total' ? r.total : r.steps[step])));
      const b = median(theirs.map((r) => (step === 'total' ? r.total : r.steps[step])));
      console.log(
        `${step.padEnd(10)} ${a.toFixed(3).padStart(7)}   ${b.toFixed(3).padStart(8)}   ${(a / b).toFixed(2)}x`,
      );
    }
  }
  console.log(
    '\ntotal = wall time of the whole process (start-up, SDK loading, every step); the baseline makes no',
  );
  console.log(
    'checks (no preflight, no KEK read-back, no state reads before writes, no public-key comparison).',
  );
} finally {
  await Promise.all([kv.close(), kms.close()]);
  rmSync(state, { recursive: true, force: true });
  await hsm.cleanup();
}
