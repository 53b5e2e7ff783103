#!/usr/bin/env node
/**
 * `ceremony <command>`: the requester's, approvers' and auditors' side of a ceremony, over the Temporal client
 * with the worker's payload codec (config: BYOK_WORKER_CONFIG / TEMPORAL_* like the worker). Commands are
 * registered here and loaded when used; each returns data, printed as text or, with `--output json`, as JSON.
 * Errors are caught in exactly one place: one line, exit 1 (2 for usage).
 */
import { ByokError } from '@byok/core';
import { type Args, parseArgs, UsageError } from './args.js';

export interface CommandResult {
  readonly data: unknown;
  readonly text: string;
}

type Command = (args: Args) => Promise<CommandResult>;

const COMMANDS: Readonly<Record<string, { summary: string; load: () => Promise<Command> }>> = {
  keygen: {
    summary:
      'keygen --out <prefix> [--alg ed25519|p256]      an approver key pair (<prefix>.key, <prefix>.pub)',
    load: async () => (await import('./commands/keygen.js')).keygen,
  },
  start: {
    summary: 'start <definition.yaml> [--admin <id>]...        validate the definition, start the ceremony',
    load: async () => (await import('./commands/start.js')).start,
  },
  approve: {
    summary: 'approve <id> --approver <id> --key <file> [--comment <text>]',
    load: async () => (await import('./commands/decide.js')).approve,
  },
  reject: {
    summary: 'reject <id> --approver <id> --key <file> [--comment <text>]',
    load: async () => (await import('./commands/decide.js')).reject,
  },
  cancel: {
    summary: 'cancel <id> --as requester:<id>|admin:<id> --reason <text>',
    load: async () => (await import('./commands/cancel.js')).cancel,
  },
  status: {
    summary: 'status <id> [--wait]                              progress table (--wait: until it ends)',
    load: async () => (await import('./commands/status.js')).status,
  },
  list: {
    summary: 'list [--status S] [--cloud azure|aws] [--key-name N] [--requester R] [--query Q]',
    load: async () => (await import('./commands/list.js')).list,
  },
  evidence: {
    summary: 'evidence <id> [--out <dir>]                      audit record: JSON + readable report',
    load: async () => (await import('./commands/evidence.js')).evidence,
  },
};

function usage(): string {
  return [
    'usage: ceremony <command> [options] [--output text|json]',
    '',
    ...Object.values(COMMANDS).map((c) => `  ceremony ${c.summary}`),
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const entry = COMMANDS[name];
  if (!entry) throw new UsageError(`unknown command '${name}'`);
  const args = parseArgs(rest);
  const result = await (await entry.load())(args);
  const json = args.options.get('output')?.at(-1) === 'json';
  process.stdout.write(json ? `${JSON.stringify(result.data, null, 2)}\n` : `${result.text}\n`);
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`usage: ${err.message}\n${usage()}\n`);
    process.exitCode = 2;
  } else {
    const e = err as {
      code?: string;
      type?: string;
      message?: string;
      cause?: { type?: string; message?: string };
    };
    // Temporal wraps the workflow's refusal (an ApplicationFailure) as the cause.
    const code = e.cause?.type ?? e.type ?? (err instanceof ByokError ? err.code : e.code) ?? 'ERROR';
    const message = e.cause?.message ?? e.message ?? String(err);
    process.stderr.write(`error: ${code}: ${message}\n`);
    process.exitCode = 1;
  }
  // The Temporal connection's native handles would keep the process alive.
}
process.exit(process.exitCode ?? 0);
