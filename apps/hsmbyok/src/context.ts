/** What every command gets and returns. Commands return data; only cli.ts turns failures into output. */
import type { ByokError } from '@byok/core';
import type { CliOptions } from './argv.js';
import type { Reporter, TextSink } from './output.js';
import type { TerminalInput } from './terminal.js';

/** The process around the CLI, injectable so tests can run a command in-process. */
export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly platform: NodeJS.Platform;
  readonly openTerminal: () => TerminalInput;
}

export interface CommandContext {
  readonly io: CliIo;
  readonly out: Reporter;
  readonly options: CliOptions;
  /** Aborted on SIGINT/SIGTERM: commands check it between steps and unwind (destroying what they made). */
  readonly signal: AbortSignal;
}

/** `result` goes into the `--json` document; `failure` (a verdict, not an exception) makes the run exit 1. */
export interface CommandOutcome {
  readonly result: Readonly<Record<string, unknown>>;
  readonly failure?: ByokError;
}

export type Command = (ctx: CommandContext) => Promise<CommandOutcome>;
