import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireTool } from './tools.js';

const BRIDGE = fileURLToPath(new URL('../pty/pty_bridge.py', import.meta.url));

export interface PtyAnswer {
  /** Text (substring) or pattern to wait for in the output printed since the previous answer's prompt. */
  readonly expect: string | RegExp;
  /** What to type. A newline is added unless it already ends in '\n' or '\r'. */
  readonly send: string;
}

export interface RunInPtyOptions {
  readonly cwd: string;
  /** Added to process.env for the program (TERM defaults to 'dumb'). */
  readonly env?: Record<string, string | undefined>;
  /** Prompts to answer, in order. */
  readonly answers?: readonly PtyAnswer[];
  /** Kill the program and reject after this long; default 30 s. */
  readonly timeoutMs?: number;
  /**
   * Before typing an answer, wait up to this long for the program to switch terminal echo off, as a
   * password prompt does (default 250 ms): a PIN answered before echo is off would show in the output.
   */
  readonly echoWaitMs?: number;
}

export interface PtyResult {
  /** Everything the program wrote to the terminal, with the terminal's CRLF turned back into LF. */
  readonly output: string;
  /** The exit status; 128 + n when the program died of signal n. */
  readonly exitCode: number;
  /** How many answers were typed (fewer than given when a prompt never appeared). */
  readonly answered: number;
}

export class PtyTimeoutError extends Error {
  readonly code = 'TESTKIT_PTY_TIMEOUT';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
    this.name = 'PtyTimeoutError';
  }
}

function normalise(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

function find(haystack: string, expect: string | RegExp): { end: number } | undefined {
  if (typeof expect === 'string') {
    const at = haystack.indexOf(expect);
    return at < 0 ? undefined : { end: at + expect.length };
  }
  const match = new RegExp(expect.source, expect.flags.replace('g', '').replace('y', '')).exec(haystack);
  return match === null ? undefined : { end: match.index + match[0].length };
}

/**
 * Runs `cmd` with a real pseudo-terminal as its controlling terminal (stdin, stdout, stderr and /dev/tty
 * are all the terminal), typing `answers` as their prompts appear. This is how tests drive a program that
 * reads a PIN from the terminal with echo off, as the original hsmbyok does. Needs python3 (its `pty`
 * module); stdout and stderr arrive merged, as on a real terminal.
 */
export function runInPty(cmd: string, args: readonly string[], opts: RunInPtyOptions): Promise<PtyResult> {
  const python = requireTool('python3');
  const answers = opts.answers ?? [];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const echoWaitMs = opts.echoWaitMs ?? 250;

  return new Promise((resolve, reject) => {
    const child = spawn(python, [BRIDGE, cmd, ...args], {
      cwd: opts.cwd,
      env: { TERM: 'dumb', ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let raw = '';
    let searchFrom = 0;
    let answered = 0;
    let stderr = '';
    let timedOut = false;

    const typeAnswers = () => {
      while (answered < answers.length) {
        const answer = answers[answered];
        if (answer === undefined) break;
        const hit = find(raw.slice(searchFrom), answer.expect);
        if (hit === undefined) break;
        searchFrom += hit.end;
        const text = /[\r\n]$/.test(answer.send) ? answer.send : `${answer.send}\n`;
        child.stdin.write(`${JSON.stringify({ send: text, echoWaitMs })}\n`);
        answered++;
      }
    };

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      raw += chunk;
      typeAnswers();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    // The bridge may exit before reading everything we sent it; that is not an error of the program.
    child.stdin.on('error', () => {});

    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);

    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', () => {
      clearTimeout(timer);
      const output = normalise(raw);
      if (timedOut) {
        const next = answers[answered];
        const waiting = next === undefined ? 'the program to exit' : `prompt ${String(next.expect)}`;
        reject(new PtyTimeoutError(`${cmd} timed out after ${timeoutMs} ms waiting for ${waiting}`, output));
        return;
      }
      const lines = stderr.trimEnd().split('\n');
      const last = lines.pop() ?? '';
      let status: unknown;
      try {
        status = JSON.parse(last);
      } catch {
        status = undefined;
      }
      if (typeof status !== 'object' || status === null || !('exitCode' in status)) {
        reject(new Error(`pty bridge failed running ${cmd}: ${stderr.trim() || 'no status reported'}`));
        return;
      }
      resolve({ output, exitCode: Number(status.exitCode), answered });
    });
  });
}
