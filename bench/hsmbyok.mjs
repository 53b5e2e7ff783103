// hsmbyok against the floor (bench/floor.cjs: a bare pkcs11js script making the same PKCS#11 calls).
// Both run as fresh `node` processes, interleaved, on one SoftHSM token; medians over RUNS runs.
// Targets (issue 2): wrap of an existing key <= 1.25x the floor; generate-and-wrap <= 1.05x.
// Usage: node bench/hsmbyok.mjs [--runs N]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSoftHsm, generateKekPair, writeKekPem } from '@byok/testkit';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'apps', 'hsmbyok', 'bin', 'hsmbyok.js');
const floor = join(here, 'floor.cjs');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 11;
const PIN = '24681357';

const hsm = await createSoftHsm();
const token = await hsm.initToken('bench', { pin: PIN });
const work = join(hsm.dir, 'work');
mkdirSync(work, { recursive: true });
const kek = generateKekPair(2048);
await writeKekPem(work, kek);
const kekPath = join(work, 'kekBlob.pem');
const env = { ...process.env, ...hsm.env, BENCH_PIN: PIN };

function writeConfig(keyName, bits, create) {
  const flags = ['CKF_EXTRACTABLE', 'CKF_TOKEN', 'CKF_SIGN', 'CKF_VERIFY'];
  if (create) flags.push('CKF_CREATE_IF_NOT_FOUND');
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
      `targetKeySpec = CKK_RSA, ${bits}, none`,
      `targetKeyFlags = ${flags.join(', ')}`,
      '',
    ].join('\n'),
  );
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: work, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return ms;
}

/** Peak RSS (kB) of one run, from GNU time, when it is installed. */
function peakRssKb(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { cwd: work, env, encoding: 'utf8' });
  const last = r.stderr.trim().split('\n').pop();
  return r.status === 0 && /^\d+$/.test(last ?? '') ? Number(last) : undefined;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
let seq = 0;
function scenario(name, target, runFloor, runCli) {
  const f = [];
  const c = [];
  for (let i = 0; i < RUNS; i++) {
    // Alternate which goes first so drift on the machine hits both equally.
    if (i % 2) {
      c.push(runCli());
      f.push(runFloor());
    } else {
      f.push(runFloor());
      c.push(runCli());
    }
  }
  rows.push({ name, floor: median(f), cli: median(c), target });
  process.stderr.write(`  ${name}: done\n`);
}

process.stderr.write(`bench: ${RUNS} runs per scenario on SoftHSM (${hsm.libraryPath})\n`);
for (const bits of [2048, 3072]) {
  scenario(
    `generate-and-wrap RSA-${bits}`,
    1.05,
    () => timed('node', [floor, hsm.libraryPath, token.label, `f${bits}-${seq++}`, kekPath, 'generate', String(bits)]),
    () => {
      writeConfig(`c${bits}-${seq++}`, bits, true);
      return timed('node', [cli, '--generate-and-wrap-target-key', '--pin-env', 'BENCH_PIN']);
    },
  );
}
// One key both sides wrap again and again.
timed('node', [floor, hsm.libraryPath, token.label, 'existing', kekPath, 'generate', '2048']);
writeConfig('existing', 2048, false);
scenario(
  'wrap existing RSA-2048',
  1.25,
  () => timed('node', [floor, hsm.libraryPath, token.label, 'existing', kekPath, 'existing', '2048']),
  () => timed('node', [cli, '--generate-and-wrap-target-key', '--pin-env', 'BENCH_PIN']),
);
scenario(
  'start-up: --help vs node -e 0',
  undefined,
  () => timed('node', ['-e', '0']),
  () => timed('node', [cli, '--help']),
);
const rssCli = peakRssKb('node', [cli, '--generate-and-wrap-target-key', '--pin-env', 'BENCH_PIN']);
const rssFloor = peakRssKb('node', [floor, hsm.libraryPath, token.label, 'existing', kekPath, 'existing', '2048']);

const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${pad('scenario', 34)}${pad('floor ms', 11)}${pad('hsmbyok ms', 12)}${pad('ratio', 8)}target`);
for (const r of rows) {
  const ratio = r.cli / r.floor;
  const verdict = r.target === undefined ? '-' : `<= ${r.target.toFixed(2)} ${ratio <= r.target ? 'met' : 'MISSED'}`;
  console.log(
    `${pad(r.name, 34)}${pad(r.floor.toFixed(1), 11)}${pad(r.cli.toFixed(1), 12)}${pad(ratio.toFixed(3), 8)}${verdict}`,
  );
}
if (rssCli && rssFloor) {
  console.log(`peak RSS, wrap existing: hsmbyok ${(rssCli / 1024).toFixed(1)} MB, floor ${(rssFloor / 1024).toFixed(1)} MB`);
}
await hsm.cleanup();
