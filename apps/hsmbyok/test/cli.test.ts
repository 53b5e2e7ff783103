/**
 * The command surface: --help, --version, start-up without native modules, argv parsing, the banner.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SOFTHSM_LIBRARY } from '@byok/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseArgv } from '../src/argv.js';
import { assertBuilt, DIST_CLI, OPTION, runHsmbyok } from './helpers.js';

let dir: string;
let preload: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'hsmbyok-cli-'));
  // Records every native addon (pkcs11js, koffi) the process loads: they all go through process.dlopen.
  preload = join(dir, 'dlopen-spy.mjs');
  await writeFile(
    preload,
    [
      'const original = process.dlopen;',
      'process.dlopen = (module, file, ...rest) => {',
      "  process.stderr.write('DLOPEN ' + file + '\\n');",
      '  return original(module, file, ...rest);',
      '};',
      '',
    ].join('\n'),
  );
});

describe('--help and --version', () => {
  it('--help documents every option, the exit codes and the differences from the original', async () => {
    const run = await runHsmbyok(['--help'], { cwd: dir });
    expect(run.exitCode).toBe(0);
    for (const text of [
      '--generate-and-wrap-target-key',
      '--check',
      '--config FILE',
      '--kek FILE',
      '--out FILE',
      '--pin-env VAR',
      '--pin-file FILE',
      '--pin-stdin',
      '--json',
      '--version',
      'DIFFERENCES FROM THE ORIGINAL',
      'EXIT CODES',
      '255  usage',
      'Enter password for Crypto-Officer: ',
    ]) {
      expect(run.stdout).toContain(text);
    }
    expect(run.stdout).not.toMatch(/^INFO: overall success$/m);
  });

  it('--version prints one line naming the release it replaces', async () => {
    const run = await runHsmbyok(['--VERSION'], { cwd: dir });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(
      /^hsmbyok 1\.1\.0 \(drop-in for hsmbyok 1\.0\.0\.3\), built \w{3} [ \d]\d \d{4} \d\d:\d\d:\d\d\n$/,
    );
  });

  it('-h wins over everything else on the line', async () => {
    const run = await runHsmbyok([OPTION, '-h'], { cwd: dir });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('USAGE');
  });

  it('--help and --version load no native module; an HSM run does (the spy works)', async () => {
    const nodeArgs = ['--import', pathToFileURL(preload).href];
    for (const args of [['--help'], ['--version'], []]) {
      const run = await runHsmbyok(args, { cwd: dir, nodeArgs });
      expect(run.stderr).not.toContain('DLOPEN');
    }
    await writeFile(
      join(dir, 'HsmConfig.ini'),
      `[byok]\nlibraryName = "${SOFTHSM_LIBRARY}"\ntokenLabel = "no such token"\n` +
        'wrappingCiphers = CKG_MGF1_SHA1, CKM_AES_KWP\n' +
        'SchemaVersion = "1.0.0"\nkid = "k"\ntargetKeyName = "n"\ntargetKeySpec = CKK_AES, 256, none\n' +
        'targetKeyFlags = CKF_TOKEN, CKF_EXTRACTABLE\n',
    );
    const { generateKeyPairSync } = await import('node:crypto');
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'kekBlob.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const run = await runHsmbyok([OPTION, '--pin-env', 'P'], { cwd: dir, nodeArgs, env: { P: '12345678' } });
    expect(run.stdout).toMatch(/ERROR: overall failure: CKR_/);
    expect(run.stderr).toMatch(/DLOPEN .*pkcs11js/);
    // koffi is for Luna's CA_* functions and diagnosing load failures: SoftHSM needs neither.
    expect(run.stderr).not.toMatch(/DLOPEN .*koffi/);
  });

  it('runs from any working directory with plain node (the launcher requires ../dist/cli.cjs)', async () => {
    const run = await runHsmbyok(['--version'], { cwd: '/' });
    expect(run.exitCode).toBe(0);
    expect(DIST_CLI).toMatch(/dist[\\/]cli\.cjs$/);
  });

  it('prints the banner like the original: copyright line, blank, version line with date and time', async () => {
    const run = await runHsmbyok([], { cwd: dir });
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^Copyright \(c\) /);
    expect(lines[1]).toBe('');
    expect(lines[2]).toMatch(/^hsmbyok version 1\.1\.0, \w{3} [ \d]\d \d{4}, \d\d:\d\d:\d\d$/);
    expect(lines[3]).toBe('');
    expect(lines[4]).toBe('ERROR: usage: hsmbyok [option]');
  });
});

describe('parseArgv', () => {
  it('the original option, any case', () => {
    for (const option of [OPTION, '--GENERATE-AND-WRAP-TARGET-KEY', '--Generate-And-Wrap-Target-Key']) {
      expect(parseArgv([option])).toEqual({
        kind: 'command',
        command: 'generate-and-wrap-target-key',
        options: { config: undefined, kek: undefined, out: undefined, pin: { kind: 'prompt' }, json: false },
      });
    }
  });

  it('extensions, with values in both spellings; values keep their case', () => {
    const parsed = parseArgv([
      '--check',
      '--CONFIG',
      'A.ini',
      '--kek=K.PEM',
      '--Out',
      'O.byok',
      '--pin-env',
      'My_Pin',
      '--json',
    ]);
    expect(parsed).toEqual({
      kind: 'command',
      command: 'check',
      options: {
        config: 'A.ini',
        kek: 'K.PEM',
        out: 'O.byok',
        pin: { kind: 'env', name: 'My_Pin' },
        json: true,
      },
    });
    expect(parseArgv([OPTION, '--pin-file', 'p.txt'])).toMatchObject({
      options: { pin: { kind: 'file', path: 'p.txt' } },
    });
    expect(parseArgv([OPTION, '--pin-stdin'])).toMatchObject({ options: { pin: { kind: 'stdin' } } });
  });

  it('usage cases (exit 255) and errors (exit 1)', () => {
    expect(parseArgv([])).toEqual({ kind: 'usage', json: false });
    expect(parseArgv(['--json'])).toMatchObject({ kind: 'usage', problem: 'no option selects what to do' });
    expect(parseArgv([OPTION, 'x'])).toMatchObject({ kind: 'usage', problem: 'unexpected argument: x' });
    expect(() => parseArgv(['--nope'])).toThrow(/unrecognized option: --nope/);
    expect(() => parseArgv(['word'])).toThrow(/unrecognized option: word/);
    expect(() => parseArgv([OPTION, '--config', 'a', '--config', 'b'])).toThrow(/given more than once/);
    expect(() => parseArgv([OPTION, '--out='])).toThrow(/--out needs a value/);
  });
});
