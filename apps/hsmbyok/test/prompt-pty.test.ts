/**
 * The Crypto-Officer prompt through a real pseudo-terminal: the PIN is read from the controlling terminal
 * with echo off, each character shows as '*', and the PIN itself never appears in the output.
 */
import { runInPty } from '@byok/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  createFixture,
  errorLines,
  type Fixture,
  lastLine,
  leftovers,
  OPTION,
  objectsLabelled,
  PIN,
  runHsmbyok,
} from './helpers.js';

const PROMPT = 'Enter password for Crypto-Officer: ';

let fx: Fixture;
beforeAll(async () => {
  fx = await createFixture();
});
afterAll(async () => {
  await fx?.cleanup();
});

describe('PIN prompt on the terminal', () => {
  it('echoes * per character (padded so the length does not show), never the PIN, and succeeds', async () => {
    const label = 'pty-ok';
    const dir = await fx.workdir({ targetKeyName: label });
    // A typo erased with DEL before the real PIN: Backspace handling is part of the prompt.
    const result = await runInPty(process.execPath, [BIN, OPTION], {
      cwd: dir,
      env: fx.softhsm.env,
      answers: [{ expect: PROMPT, send: `x\x7f${PIN}` }],
      timeoutMs: 60_000,
    });
    expect(result.answered).toBe(1);
    expect(result.exitCode, result.output).toBe(0);
    expect(result.output).not.toContain(PIN);
    const promptLine = result.output.split('\n').find((l) => l.startsWith(PROMPT)) ?? '';
    // 'x', then "\b \b" for the DEL, then one '*' per PIN character, then padding to 32 stars.
    expect(promptLine).toBe(`${PROMPT}*\b \b${'*'.repeat(PIN.length)}${'*'.repeat(32 - PIN.length)}`);
    expect(lastLine(result.output)).toBe('INFO: overall success');
    expect(leftovers(dir)).toEqual(['targetBlob.byok']);
  });

  it('a wrong PIN fails with CKR_PIN_INCORRECT, creates no key and no file', async () => {
    const label = 'pty-wrong';
    const dir = await fx.workdir({ targetKeyName: label });
    const wrong = 'wrong-pin-1234';
    const result = await runInPty(process.execPath, [BIN, OPTION], {
      cwd: dir,
      env: fx.softhsm.env,
      answers: [{ expect: PROMPT, send: wrong }],
      timeoutMs: 60_000,
    });
    expect(result.exitCode).toBe(1);
    expect(result.output).not.toContain(wrong);
    expect(errorLines(result.output)).toEqual([
      'ERROR: C_Login failed: the PIN is incorrect: CKR_PIN_INCORRECT (0x000000A0)',
      'ERROR: overall failure: CKR_PIN_INCORRECT (0x000000A0)',
    ]);
    expect(leftovers(dir)).toEqual([]);
    expect(await objectsLabelled(fx, label)).toEqual([]);
  });

  it('a PIN shorter than 7 characters is refused before C_Login (CKR_PIN_INVALID)', async () => {
    const dir = await fx.workdir({ targetKeyName: 'pty-short' });
    const result = await runInPty(process.execPath, [BIN, OPTION], {
      cwd: dir,
      env: fx.softhsm.env,
      answers: [{ expect: PROMPT, send: '123456' }],
      timeoutMs: 60_000,
    });
    expect(result.exitCode).toBe(1);
    expect(result.output).not.toContain('123456');
    expect(result.output).not.toContain('logging in');
    expect(lastLine(result.output)).toBe('ERROR: overall failure: CKR_PIN_INVALID (0x000000A1)');
    expect(leftovers(dir)).toEqual([]);
  });

  it('without a terminal and without --pin-*, fails with one clear line instead of hanging', async () => {
    const dir = await fx.workdir({ targetKeyName: 'no-tty' });
    // runHsmbyok starts a new session: no controlling terminal, stdin a pipe.
    const run = await runHsmbyok([OPTION], { cwd: dir, env: fx.softhsm.env, input: `${PIN}\n` });
    expect(run.exitCode).toBe(1);
    expect(errorLines(run.stdout)).toEqual([
      'ERROR: no terminal to read the Crypto-Officer PIN from; run in a terminal or use --pin-env, --pin-file or ' +
        '--pin-stdin: CKR_PIN_INVALID (0x000000A1)',
      'ERROR: overall failure: CKR_PIN_INVALID (0x000000A1)',
    ]);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('non-interactive PIN sources', () => {
  it('--pin-stdin and --pin-file work and never print the PIN', async () => {
    const { writeFile, chmod } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const dir = await fx.workdir({ targetKeyName: 'pin-sources' });
    const viaStdin = await runHsmbyok([OPTION, '--pin-stdin'], {
      cwd: dir,
      env: fx.softhsm.env,
      input: `${PIN}\n`,
    });
    expect(viaStdin.exitCode, viaStdin.stdout).toBe(0);
    expect(viaStdin.stdout + viaStdin.stderr).not.toContain(PIN);

    await writeFile(join(dir, 'pin.txt'), `${PIN}\n`);
    await chmod(join(dir, 'pin.txt'), 0o644);
    const viaFile = await runHsmbyok([OPTION, '--pin-file', 'pin.txt'], { cwd: dir, env: fx.softhsm.env });
    expect(viaFile.exitCode, viaFile.stdout).toBe(0);
    expect(viaFile.stdout).toContain(
      'WARNING: PIN file pin.txt is readable by others (mode 0644); chmod 600 it',
    );
    expect(viaFile.stdout + viaFile.stderr).not.toContain(PIN);
  });

  it('a wrong PIN from --pin-env is not echoed in the error or the JSON document', async () => {
    const dir = await fx.workdir({ targetKeyName: 'pin-env-wrong' });
    const secret = 'S3cret-Wrong-PIN';
    const run = await runHsmbyok([OPTION, '--pin-env', 'MY_PIN', '--json'], {
      cwd: dir,
      env: { ...fx.softhsm.env, MY_PIN: secret },
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout + run.stderr).not.toContain(secret);
    const doc = JSON.parse(run.stdout) as { ok: boolean; error: { code: string } };
    expect(doc).toMatchObject({ ok: false, error: { code: 'CKR_PIN_INCORRECT' } });
  });
});
