/**
 * Entry point: argv -> command -> outcome -> the original's closing line and exit code. This is the one
 * place where errors are caught and reported: a user mistake prints one `ERROR: <what>: CKR_X (0x...)` line
 * and the original's `ERROR: overall failure: CKR_X (0x...)`, never a stack trace.
 *
 * Exit codes, as the original: 0 success, 1 failure, 255 usage (it returned -1 from main).
 */
import { ByokError, ckrName, hex8, isByokError } from '@byok/core';
import { type CommandName, type ParsedArgv, parseArgv } from './argv.js';
import { isCloudArgv, parseCloudArgv } from './cloud-argv.js';
import { cloudHelpText } from './commands/cloud-help.js';
import { COMMANDS } from './commands/index.js';
import type { CliIo, CommandOutcome } from './context.js';
import { CoalescingOutput, FdSink, Reporter } from './output.js';
import { openTerminal } from './terminal.js';
import { buildInfo, ORIGINAL_VERSION } from './version.js';

export const EXIT_SUCCESS = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 255;

export function printBanner(out: Reporter): void {
  const { version, date, time } = buildInfo();
  out.line(
    `Copyright (c) 2025 the byok authors (MIT). Drop-in replacement for Thales hsmbyok ${ORIGINAL_VERSION}.`,
  );
  out.line();
  // The original's shape exactly (`hsmbyok version X, <date>, <time>`) so scripts that parse it still can.
  out.line(`hsmbyok version ${version}, ${date}, ${time}`);
  out.line();
}

function printUsage(out: Reporter): void {
  out.error('usage: hsmbyok [option]');
  out.line();
  out.line('  where option is one of:');
  out.line();
  out.line('    --generate-and-wrap-target-key');
  out.line();
  out.line('  extensions: --check, --help, --version, --config FILE, --kek FILE, --out FILE,');
  out.line('              --pin-env VAR, --pin-file FILE, --pin-stdin, --json (see hsmbyok --help)');
  out.line();
}

/**
 * A ByokError made by the cloud bundle (dist/cloud.cjs has its own copy of the class): recognised by shape,
 * so it keeps its code and message instead of becoming an "internal error".
 */
function foreignByokError(error: unknown): ByokError | undefined {
  if (!(error instanceof Error) || error.name !== 'ByokError') return undefined;
  const { code, ckr } = error as { code?: unknown; ckr?: unknown };
  if (typeof code !== 'string' || typeof ckr !== 'number') return undefined;
  return new ByokError(code, error.message, { ckr, cause: error });
}

/** A failure of something that is not ours (a bug, or a pkcs11js error that escaped): reported, not thrown. */
function asByokError(error: unknown): ByokError {
  if (isByokError(error)) return error;
  const foreign = foreignByokError(error);
  if (foreign) return foreign;
  if (typeof error === 'object' && error !== null) {
    const { code, method } = error as { code?: unknown; method?: unknown };
    if (typeof code === 'number' && typeof method === 'string') {
      return new ByokError(ckrName(code), `${method} failed`, { ckr: code, cause: error });
    }
  }
  const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  return new ByokError('CKR_GENERAL_ERROR', `internal error: ${reason}`, { cause: error });
}

function errorJson(error: ByokError): Record<string, unknown> {
  return { code: error.code, ckr: error.ckr, ckrHex: hex8(error.ckr), message: error.message };
}

function closingLine(out: Reporter, failure: ByokError | undefined): void {
  if (failure) out.error(`overall failure: ${ckrName(failure.ckr)} (${hex8(failure.ckr)})`);
  else out.info('overall success');
}

export interface RunOptions {
  /** Aborted on SIGINT/SIGTERM by main(); tests pass their own. */
  readonly signal?: AbortSignal;
}

/** One line with the stable code first: `ERROR: KEK_INVALID_OPS: ...`, `ERROR: CKR_PIN_INCORRECT: ...`. */
function cloudErrorLine(error: ByokError): string {
  return `${error.code}: ${error.message}`;
}

/**
 * `hsmbyok azure ...` / `hsmbyok aws ...`: no banner (they are not the original's command), one ERROR line
 * on failure, exit 0 or 1. The command modules and the cloud SDKs are loaded only here.
 */
async function runCloudCli(argv: readonly string[], io: CliIo, runOptions: RunOptions): Promise<number> {
  const json = argv.some((a) => a.toLowerCase() === '--json');
  const out = new Reporter(io.stdout, io.stderr, { json });
  let command: string | undefined;
  let outcome: CommandOutcome | undefined;
  let failure: ByokError | undefined;
  try {
    const parsed = parseCloudArgv(argv);
    if (parsed.kind === 'help') {
      out.raw(cloudHelpText(parsed.group));
      return EXIT_SUCCESS;
    }
    command = parsed.argv.command;
    const { runCloudCommand } = await import('./commands/cloud/index.js');
    outcome = await runCloudCommand(parsed.argv, {
      io,
      out,
      signal: runOptions.signal ?? new AbortController().signal,
    });
    failure = outcome.failure;
  } catch (error) {
    failure = asByokError(error);
    out.error(cloudErrorLine(failure));
    const internal = !isByokError(error) && !foreignByokError(error);
    if (internal && io.env.HSMBYOK_DEBUG === '1' && error instanceof Error && error.stack)
      out.line(error.stack);
  }
  const exitCode = failure ? EXIT_FAILURE : EXIT_SUCCESS;
  if (out.json) {
    out.document({
      tool: 'hsmbyok',
      version: buildInfo().version,
      ...(command ? { command } : {}),
      ok: !failure,
      exitCode,
      ...(outcome?.result ?? {}),
      warnings: out.warnings,
      ...(failure ? { error: { code: failure.code, message: failure.message } } : {}),
    });
  }
  return exitCode;
}

/** Runs one command line against `io` and returns the exit code. Never throws. */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  runOptions: RunOptions = {},
): Promise<number> {
  if (isCloudArgv(argv)) return runCloudCli(argv, io, runOptions);
  let parsed: ParsedArgv;
  try {
    parsed = parseArgv(argv);
  } catch (error) {
    const failure = asByokError(error);
    const out = new Reporter(io.stdout, io.stderr, { json: argv.some((a) => a.toLowerCase() === '--json') });
    printBanner(out);
    out.error(failure.describe());
    closingLine(out, failure);
    if (out.json)
      out.document({ tool: 'hsmbyok', ok: false, exitCode: EXIT_FAILURE, error: errorJson(failure) });
    return EXIT_FAILURE;
  }

  if (parsed.kind === 'usage') {
    const out = new Reporter(io.stdout, io.stderr, { json: parsed.json });
    printBanner(out);
    if (parsed.problem) out.error(parsed.problem);
    printUsage(out);
    if (out.json) {
      out.document({
        tool: 'hsmbyok',
        ok: false,
        exitCode: EXIT_USAGE,
        error: { code: 'usage', message: parsed.problem ?? 'usage' },
      });
    }
    return EXIT_USAGE;
  }

  const { command, options } = parsed;
  const out = new Reporter(io.stdout, io.stderr, { json: options.json });
  const entry = COMMANDS[command];
  if (entry.banner) printBanner(out);

  let outcome: CommandOutcome | undefined;
  let failure: ByokError | undefined;
  try {
    const run = await entry.load();
    outcome = await run({ io, out, options, signal: runOptions.signal ?? new AbortController().signal });
    failure = outcome.failure;
  } catch (error) {
    failure = asByokError(error);
    out.error(failure.describe());
    if (!isByokError(error) && io.env.HSMBYOK_DEBUG === '1' && error instanceof Error && error.stack) {
      out.line(error.stack);
    }
  }

  if (entry.banner || failure) closingLine(out, failure);
  const exitCode = failure ? EXIT_FAILURE : EXIT_SUCCESS;
  if (out.json) {
    out.document({
      tool: 'hsmbyok',
      version: buildInfo().version,
      command: command satisfies CommandName,
      ok: !failure,
      exitCode,
      ...(outcome?.result ?? {}),
      warnings: out.warnings,
      ...(failure ? { error: errorJson(failure) } : {}),
    });
  }
  return exitCode;
}

/**
 * The process's own io: stdout/stderr, stdin, the controlling terminal for the PIN. Node builds its stdio
 * streams on first access: stdout and stderr are written through their descriptors (FdSink) and stdin is a
 * getter, which only --pin-stdin reads. Windows keeps the streams, which convert for the console.
 */
export function processIo(output: CoalescingOutput = new CoalescingOutput()): CliIo {
  const posix = process.platform !== 'win32';
  return {
    stdout: output.sink(posix ? new FdSink(1, () => process.stdout) : process.stdout),
    stderr: output.sink(posix ? new FdSink(2, () => process.stderr) : process.stderr),
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    cwd: process.cwd(),
    platform: process.platform,
    openTerminal: () => openTerminal(process.platform),
  };
}

/** For bin/hsmbyok.cjs. Ctrl-C / SIGTERM abort the run at the next step boundary so cleanup still happens. */
export async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  const output = new CoalescingOutput();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts += 1;
    // A second signal means "now": the exit code shells use for a signal.
    if (interrupts > 1) {
      output.flush();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    controller.abort(new ByokError('CKR_CANCEL', `interrupted (${signal})`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await runCli(argv, processIo(output), { signal: controller.signal });
  } finally {
    output.flush();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
