/**
 * Fuzz: ~1,300 mutated HsmConfig.ini and kekBlob.pem files fed to the CLI in-process (runCli with injected
 * io; the PKCS#11 module really loads when a mutant gets that far), plus a few through the built binary.
 * The PIN given is wrong, so no mutant can succeed: every run must end with exactly one diagnostic ERROR
 * line and the closing `ERROR: overall failure: CKR_X (0x...)`, exit 1, no stack trace, no internal error,
 * and nothing written next to the inputs (no targetBlob.byok, no temporary file).
 */
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ByokError } from '@byok/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/context.js';
import { runCli } from '../src/index.js';
import { configText, createFixture, defaultConfig, type Fixture, OPTION, runHsmbyok } from './helpers.js';

const WRONG_PIN_ENV = 'FUZZ_PIN';
const WRONG_PIN = 'not-the-pin-0';
const ARGS = [OPTION, '--pin-env', WRONG_PIN_ENV];

let fx: Fixture;
let baseIni: string;
let basePem: string;
beforeAll(async () => {
  fx = await createFixture();
  // In-process runs load SoftHSM here: it reads SOFTHSM2_CONF at C_Initialize.
  process.env.SOFTHSM2_CONF = fx.softhsm.confPath;
  baseIni = configText(defaultConfig(fx.softhsm.libraryPath, { targetKeyName: 'fuzz-key' }));
  basePem = fx.kek.publicPem;
});
afterAll(async () => {
  await fx?.cleanup();
});

interface Captured {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function runInProcess(cwd: string): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    stdin: Readable.from([]),
    env: { [WRONG_PIN_ENV]: WRONG_PIN },
    cwd,
    platform: process.platform,
    openTerminal: () => {
      throw new ByokError('CKR_PIN_INVALID', 'no terminal in the fuzz test');
    },
  };
  const exitCode = await runCli(ARGS, io);
  return { exitCode, stdout, stderr };
}

/** The invariant every mutant must satisfy. Returns a description of the violation, or undefined. */
function violation(run: Captured, dir: string): string | undefined {
  if (run.exitCode !== 1) return `exit code ${run.exitCode}`;
  if (run.stderr !== '') return `stderr: ${run.stderr}`;
  const lines = run.stdout.trimEnd().split('\n');
  const errors = lines.filter((l) => l.startsWith('ERROR:'));
  if (errors.length !== 2) return `${errors.length} ERROR lines: ${errors.join(' | ')}`;
  const closing = /^ERROR: overall failure: (CKR_\w+ \(0x[0-9A-F]{8}\))$/.exec(lines[lines.length - 1] ?? '');
  if (!closing) return `last line is not the closing line: ${lines[lines.length - 1]}`;
  if (!errors[0]?.endsWith(`: ${closing[1]}`))
    return `diagnostic line does not carry ${closing[1]}: ${errors[0]}`;
  if (/internal error/.test(run.stdout)) return `internal error: ${errors[0]}`;
  if (lines.some((l) => /^\s+at .+:\d+:\d+\)?$/.test(l))) return 'stack trace in output';
  if (run.stdout.includes(WRONG_PIN)) return 'PIN in output';
  const extra = readdirSync(dir).filter((f) => f !== 'HsmConfig.ini' && f !== 'kekBlob.pem');
  if (extra.length > 0) return `left files: ${extra.join(', ')}`;
  return undefined;
}

// ---- mutations ----

const INTERESTING = [
  '"',
  ';',
  '[',
  ']',
  '=',
  '\n',
  '\r\n',
  '\r',
  '\0',
  '\uFEFF',
  '\t',
  ' ',
  ',',
  ':',
  'CKF_',
  'CKF_EXTRACTABL',
  'CKK_EC',
  'CKK_AES',
  'CKK_DES3',
  'P-256',
  'none',
  '0',
  '-1',
  '99999999999',
  'CKG_MGF1_SHA256',
  'CKM_RSA_AES_KEY_WRAP',
  '[byok]',
  '[other]',
  'x'.repeat(300),
  '\u00e9\u4e2d\ud83d\udd11',
  '\\',
  '#',
];

type Edit =
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'duplicateLine'; readonly line: number }
  | { readonly kind: 'dropLine'; readonly line: number }
  | { readonly kind: 'swapLines'; readonly a: number; readonly b: number }
  | { readonly kind: 'upper'; readonly at: number; readonly length: number }
  | { readonly kind: 'truncate'; readonly at: number };

const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: position,
    text: fc.oneof(
      fc.constantFrom(...INTERESTING),
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 6 }),
    ),
  }),
  fc.record({ kind: fc.constant('duplicateLine' as const), line: position }),
  fc.record({ kind: fc.constant('dropLine' as const), line: position }),
  fc.record({ kind: fc.constant('swapLines' as const), a: position, b: position }),
  fc.record({ kind: fc.constant('upper' as const), at: position, length: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
);

function applyEdit(text: string, edit: Edit): string {
  const at = (p: number): number => Math.floor(p * (text.length + 1));
  const lines = text.split('\n');
  const line = (p: number): number => Math.floor(p * lines.length);
  switch (edit.kind) {
    case 'delete':
      return text.slice(0, at(edit.at)) + text.slice(at(edit.at) + edit.length);
    case 'insert':
      return text.slice(0, at(edit.at)) + edit.text + text.slice(at(edit.at));
    case 'duplicateLine':
      lines.splice(line(edit.line), 0, lines[line(edit.line)] ?? '');
      return lines.join('\n');
    case 'dropLine':
      lines.splice(line(edit.line), 1);
      return lines.join('\n');
    case 'swapLines': {
      const [a, b] = [line(edit.a), line(edit.b)];
      [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
      return lines.join('\n');
    }
    case 'upper':
      return (
        text.slice(0, at(edit.at)) +
        text.slice(at(edit.at), at(edit.at) + edit.length).toUpperCase() +
        text.slice(at(edit.at) + edit.length)
      );
    case 'truncate':
      return text.slice(0, at(edit.at));
  }
}

const editsArb = fc.array(editArb, { minLength: 1, maxLength: 5 });

function otherPems(): string[] {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return [
    ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    small.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    small.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    '',
  ];
}

/** Closing CKR of every fuzz run, to show the mutants reach deep steps too, not only the INI parser. */
const outcomes = new Map<string, number>();

async function check(dir: string, ini: string | Buffer, pem: string | Buffer): Promise<string | undefined> {
  await writeFile(join(dir, 'HsmConfig.ini'), ini);
  await writeFile(join(dir, 'kekBlob.pem'), pem);
  const run = await runInProcess(dir);
  const code = /overall failure: (CKR_\w+)/.exec(run.stdout)?.[1] ?? 'none';
  outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
  const problem = violation(run, dir);
  return problem === undefined ? undefined : `${problem}\n--- output ---\n${run.stdout}`;
}

describe('fuzz (in-process)', () => {
  it('the unmutated inputs reach C_Login and fail only on the wrong PIN (the harness itself works)', async () => {
    const dir = await mkdtemp(join(fx.softhsm.dir, 'fuzz-'));
    await writeFile(join(dir, 'HsmConfig.ini'), baseIni);
    await writeFile(join(dir, 'kekBlob.pem'), basePem);
    const run = await runInProcess(dir);
    expect(violation(run, dir)).toBeUndefined();
    expect(run.stdout).toContain(
      'ERROR: C_Login failed: the PIN is incorrect: CKR_PIN_INCORRECT (0x000000A0)',
    );
    // The invariant checker can fail: a success-shaped run is a violation.
    expect(violation({ ...run, exitCode: 0 }, dir)).toBe('exit code 0');
    const withTrace = run.stdout.replace('INFO: ReadIni', '    at foo (file:///x.js:1:2)\nINFO: ReadIni');
    expect(violation({ ...run, stdout: withTrace }, dir)).toBe('stack trace in output');
    await rm(dir, { recursive: true });
  });

  it('1,000 mutated HsmConfig.ini files', async () => {
    const dir = await mkdtemp(join(fx.softhsm.dir, 'fuzz-ini-'));
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(editsArb, async (edits) => {
        const ini = edits.reduce(applyEdit, baseIni);
        const problem = await check(dir, ini, basePem);
        if (problem) throw new Error(problem);
        checked += 1;
      }),
      { numRuns: 1000 },
    );
    expect(checked).toBe(1000);
    // Mutants failed at different depths: in the parser, and at C_Login after loading the module.
    expect(outcomes.get('CKR_ARGUMENTS_BAD') ?? 0).toBeGreaterThan(50);
    expect(outcomes.get('CKR_PIN_INCORRECT') ?? 0).toBeGreaterThan(50);
    console.info(`fuzz outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    await rm(dir, { recursive: true });
  }, 600_000);

  it('300 mutated kekBlob.pem files (and foreign keys)', async () => {
    const dir = await mkdtemp(join(fx.softhsm.dir, 'fuzz-pem-'));
    const foreign = otherPems();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          editsArb.map((edits) => edits.reduce(applyEdit, basePem)),
          fc.constantFrom(...foreign),
          fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
        ),
        async (pem) => {
          const problem = await check(dir, baseIni, pem);
          if (problem) throw new Error(problem);
        },
      ),
      { numRuns: 300 },
    );
    await rm(dir, { recursive: true });
  }, 600_000);
});

describe('fuzz (spawned binary)', () => {
  it('12 mutants through bin/hsmbyok.cjs behave the same', async () => {
    const mutants = fc.sample(editsArb, { numRuns: 12, seed: 42 });
    for (const edits of mutants) {
      const dir = await mkdtemp(join(fx.softhsm.dir, 'fuzz-bin-'));
      await writeFile(join(dir, 'HsmConfig.ini'), edits.reduce(applyEdit, baseIni));
      await writeFile(join(dir, 'kekBlob.pem'), basePem);
      const run = await runHsmbyok(ARGS, {
        cwd: dir,
        env: { ...fx.softhsm.env, [WRONG_PIN_ENV]: WRONG_PIN },
      });
      expect(violation(run, dir), run.stdout).toBeUndefined();
    }
  }, 120_000);
});
