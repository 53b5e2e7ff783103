/**
 * What a cloud command gets: the process (io), the reporter, its parsed command line, the abort signal; and
 * small typed readers for its option values, so that every value is checked before anything is touched.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ByokError } from '@byok/core';
import type { CloudArgv } from '../../cloud-argv.js';
import type { CliIo, CommandOutcome } from '../../context.js';
import type { Reporter } from '../../output.js';

export interface CloudContext {
  readonly io: CliIo;
  readonly out: Reporter;
  readonly argv: CloudArgv;
  readonly signal: AbortSignal;
}

export type CloudCommand = (ctx: CloudContext) => Promise<CommandOutcome>;

export function badArgument(message: string): ByokError {
  return new ByokError('CKR_ARGUMENTS_BAD', message);
}

export function optional(ctx: CloudContext, name: string): string | undefined {
  return ctx.argv.values.get(name);
}

export function required(ctx: CloudContext, name: string, what: string): string {
  const value = ctx.argv.values.get(name);
  if (value === undefined) throw badArgument(`${ctx.argv.command}: --${name} is required (${what})`);
  return value;
}

export function flag(ctx: CloudContext, name: string): boolean {
  return ctx.argv.switches.has(name);
}

/** One of `allowed`, compared case-insensitively; the canonical spelling comes back. */
export function choice<T extends string>(
  ctx: CloudContext,
  name: string,
  allowed: readonly T[],
): T | undefined {
  const value = optional(ctx, name);
  if (value === undefined) return undefined;
  const found = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (!found) throw badArgument(`--${name} ${JSON.stringify(value)}: allowed ${allowed.join(', ')}`);
  return found;
}

export function integer(ctx: CloudContext, name: string, min: number, max: number): number | undefined {
  const value = optional(ctx, name);
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw badArgument(`--${name} ${JSON.stringify(value)}: a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

export function localPath(ctx: CloudContext, path: string): string {
  return resolve(ctx.io.cwd, path);
}

/** Reads an input file; a missing or unreadable one is one line naming it. */
export function readInput(ctx: CloudContext, path: string, what: string): Buffer {
  try {
    return readFileSync(localPath(ctx, path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ByokError(
      code === 'ENOENT' ? 'CKR_FILE_NOT_FOUND' : 'CKR_FILE_IO',
      `${path}: cannot read ${what} (${code === 'ENOENT' ? 'file not found' : (code ?? 'error')})`,
      { cause: error },
    );
  }
}

/** Yields first: a Ctrl-C that arrived during a synchronous PKCS#11 call is seen here. */
export async function throwIfAborted(ctx: CloudContext): Promise<void> {
  await new Promise<void>((done) => setImmediate(done));
  if (!ctx.signal.aborted) return;
  const reason: unknown = ctx.signal.reason;
  throw reason instanceof ByokError ? reason : new ByokError('CKR_CANCEL', 'interrupted');
}
