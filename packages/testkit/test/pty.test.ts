import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PtyTimeoutError, runInPty } from '../src/index.js';

const READ_PIN = fileURLToPath(new URL('./fixtures/read-pin.sh', import.meta.url));
const cwd = fileURLToPath(new URL('.', import.meta.url));
const prompts = [
  { expect: 'Enter password for Crypto-Officer: ', send: '12345678' },
  { expect: /Your name: $/, send: 'ada\n' },
];

describe('runInPty', () => {
  it('answers a PIN prompt on /dev/tty with echo off and reports the exit code', async () => {
    const result = await runInPty(READ_PIN, [], {
      cwd,
      env: { EXPECTED_PIN: '12345678', EXIT_WITH: '5' },
      answers: prompts,
    });
    expect(result.answered).toBe(2);
    expect(result.exitCode).toBe(5);
    expect(result.output).toContain('stdin is a terminal');
    expect(result.output).toContain('to stderr');
    expect(result.output).toContain('pin has 8 characters; hello ada');
    // Echo was off for the PIN and on for the name.
    expect(result.output).not.toContain('12345678');
    expect(result.output).toContain('Your name: ada\n');
    expect(result.output).not.toContain('\r\n');
  });

  it('reports a wrong PIN as the program exits with it', async () => {
    const result = await runInPty(READ_PIN, [], { cwd, env: { EXPECTED_PIN: 'other' }, answers: prompts });
    expect(result.exitCode).toBe(3);
  });

  it('reports death by signal as 128 + n', async () => {
    const result = await runInPty('sh', ['-c', 'echo bye; kill -TERM $$'], { cwd });
    expect(result.output).toBe('bye\n');
    expect(result.exitCode).toBe(143);
  });

  it('reports a program that cannot be started as exit 127', async () => {
    const result = await runInPty('/nonexistent/program', [], { cwd });
    expect(result.exitCode).toBe(127);
    expect(result.output).toContain('cannot run /nonexistent/program');
  });

  it('times out when a prompt never gets its answer, keeping what was printed', async () => {
    const run = runInPty(READ_PIN, [], {
      cwd,
      answers: [{ expect: 'Something else', send: 'x' }],
      timeoutMs: 1500,
    });
    await expect(run).rejects.toBeInstanceOf(PtyTimeoutError);
    await expect(run).rejects.toMatchObject({
      output: expect.stringContaining('Enter password for Crypto-Officer: '),
    });
  });
});
