/**
 * Every byte the CLI prints goes through here. Lines keep the original's shapes (`INFO: ...`,
 * `WARNING: ...`, `ERROR: ...`) because runbooks grep for them. With `--json` the human lines move to
 * stderr and stdout carries exactly one JSON document. Registered secrets (the PIN) are masked in anything
 * written, as a last line of defence: no code path should print them in the first place.
 */

import { writeSync } from 'node:fs';

export interface TextSink {
  write(text: string): unknown;
  /** Writes whatever the sink still holds (a CoalescingOutput sink); absent on plain streams. */
  flush?(): void;
}

/** What FdSink hands over to when the descriptor cannot take more now: process.stdout or process.stderr. */
export interface StreamSink {
  write(chunk: string | Uint8Array): unknown;
}

/**
 * stdout or stderr written with writeSync, as process.stdout writes files, pipes and terminals on POSIX
 * anyway, without building the stream: for a pipe that is a net.Socket, the `net` module and about half a
 * megabyte of objects, a tenth of a drop-in run's own start-up (bench/hsmbyok.mjs).
 * - EAGAIN (a pipe some other process made non-blocking, now full): the rest goes to `stream()`, the Node
 *   stream, which queues and waits; so does everything after it, to keep the order.
 * - EPIPE (the reader went away: `hsmbyok ... | head -1`): the rest of the output is dropped and the run
 *   goes on, so a wrap still completes or cleans up, and the exit code still tells what happened. (The
 *   stream would have raised an unhandled 'error' and killed the process mid-run.)
 */
export class FdSink implements TextSink {
  #stream: StreamSink | undefined;
  #gone = false;

  constructor(
    private readonly fd: number,
    private readonly stream: () => StreamSink,
  ) {}

  write(text: string): void {
    if (this.#gone) return;
    if (this.#stream) {
      this.#stream.write(text);
      return;
    }
    const bytes = Buffer.from(text, 'utf8');
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(this.fd, bytes, offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          this.#stream = this.stream();
          this.#stream.write(bytes.subarray(offset));
          return;
        }
        if (code === 'EPIPE') {
          this.#gone = true;
          return;
        }
        throw error;
      }
    }
  }
}

/**
 * The process's stdout and stderr, written in batches: the lines one step prints in a burst go out in one
 * write per stream, in order across both, on the next turn of the event loop (every step boundary yields
 * one) or at `flush()`. A wrap prints about thirty lines, and each stream write costs more than the
 * PKCS#11 calls between them. Code about to block (library load, key generation) calls
 * `Reporter.flush()` first, so its line is on screen while it waits.
 */
export class CoalescingOutput {
  #queue: { target: TextSink; text: string }[] = [];
  #scheduled = false;

  sink(target: TextSink): TextSink {
    return { write: (text: string) => this.#push(target, text), flush: () => this.flush() };
  }

  #push(target: TextSink, text: string): void {
    const last = this.#queue[this.#queue.length - 1];
    if (last && last.target === target) last.text += text;
    else this.#queue.push({ target, text });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (const { target, text } of queue) target.write(text);
  }
}

export class Reporter {
  readonly #human: TextSink;
  readonly #machine: TextSink;
  readonly #secrets = new Set<string>();
  readonly json: boolean;
  /** Every WARNING line of the run, for the JSON document. */
  readonly warnings: string[] = [];

  constructor(stdout: TextSink, stderr: TextSink, options: { json: boolean }) {
    this.json = options.json;
    this.#human = options.json ? stderr : stdout;
    this.#machine = stdout;
  }

  /** Masks `secret` in everything written from now on. */
  addSecret(secret: string): void {
    if (secret.length > 0) this.#secrets.add(secret);
  }

  #redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join('********');
    return out;
  }

  /** Human stream, verbatim (no newline added): the banner, the prompt, the `*` echo. */
  raw(text: string): void {
    this.#human.write(this.#redact(text));
  }

  line(text = ''): void {
    this.raw(`${text}\n`);
  }

  info(message: string): void {
    this.line(`INFO: ${message}`);
  }

  warning(message: string): void {
    this.warnings.push(this.#redact(message));
    this.line(`WARNING: ${message}`);
  }

  error(message: string): void {
    this.line(`ERROR: ${message}`);
  }

  /** Puts everything written so far on screen: called before an operation that may block for a while. */
  flush(): void {
    this.#human.flush?.();
    this.#machine.flush?.();
  }

  /** The one machine-readable document of a `--json` run. */
  document(value: unknown): void {
    this.#machine.write(`${this.#redact(JSON.stringify(value, null, 2))}\n`);
  }
}
