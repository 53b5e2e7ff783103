/**
 * Every byte the CLI prints goes through here. Lines keep the original's shapes (`INFO: ...`,
 * `WARNING: ...`, `ERROR: ...`) because runbooks grep for them. With `--json` the human lines move to
 * stderr and stdout carries exactly one JSON document. Registered secrets (the PIN) are masked in anything
 * written, as a last line of defence: no code path should print them in the first place.
 */

export interface TextSink {
  write(text: string): unknown;
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

  /** The one machine-readable document of a `--json` run. */
  document(value: unknown): void {
    this.#machine.write(`${this.#redact(JSON.stringify(value, null, 2))}\n`);
  }
}
