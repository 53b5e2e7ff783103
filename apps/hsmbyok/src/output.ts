/**
 * Every byte the CLI prints goes through here. Lines keep the original's shapes (`INFO: ...`,
 * `WARNING: ...`, `ERROR: ...`) because runbooks grep for them. With `--json` the human lines move to
 * stderr and stdout carries exactly one JSON document. Registered secrets (the PIN) are masked in anything
 * written, as a last line of defence: no code path should print them in the first place.
 */

export interface TextSink {
  write(text: string): unknown;
  /** Writes whatever the sink still holds (a CoalescingOutput sink); absent on plain streams. */
  flush?(): void;
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
