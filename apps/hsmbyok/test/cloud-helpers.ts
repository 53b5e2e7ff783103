/**
 * Cloud test fixtures: the emulators started in-process, the built CLI run against them and a throwaway
 * SoftHSM, and independent checks that use the imported key through the real SDKs against the HSM's copy.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type Fixture, PIN_ARGS, type RunResult, runHsmbyok } from './helpers.js';

export { PIN_ARGS };

/** Runs a cloud command in `cwd` with the fixture's SoftHSM environment plus `env`. */
export function runCloud(
  fx: Fixture,
  cwd: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  return runHsmbyok(args, { cwd, env: { ...fx.env, ...env } });
}

/** A failure is exactly one ERROR line with a code, exit 1, no stack trace. */
export function expectOneErrorLine(result: RunResult, code: string | RegExp): string {
  expect(result.exitCode).toBe(1);
  const all = `${result.stdout}${result.stderr}`;
  const errors = all.split('\n').filter((l) => l.startsWith('ERROR: '));
  expect(errors).toHaveLength(1);
  const line = errors[0] ?? '';
  if (typeof code === 'string') expect(line.startsWith(`ERROR: ${code}: `)).toBe(true);
  else expect(line).toMatch(code);
  expect(all).not.toMatch(/\n\s+at /);
  return line;
}

export function expectNoFile(dir: string, ...names: string[]): void {
  for (const name of names) expect(existsSync(join(dir, name)), name).toBe(false);
}

/** The `[n/N] step: ... done (x s)` lines of a one-shot run. */
export function stepLines(text: string): string[] {
  return text.split('\n').filter((l) => /^\[\d\/\d\] /.test(l));
}
