/**
 * One line per step of a one-shot command (`[2/6] prepare KEK: ... done (0.4 s)`), and the same steps, timed,
 * for the JSON document and the benchmark. A failing step prints nothing here: the one ERROR line says why.
 */
import type { Reporter } from '../../output.js';

export interface StepRecord {
  readonly step: string;
  readonly seconds: number;
  readonly detail: string;
}

export class Progress {
  readonly records: StepRecord[] = [];
  #index = 0;

  constructor(
    private readonly out: Reporter,
    private readonly total: number,
  ) {}

  /** Runs `fn`; its result's `detail` goes on the step's line. */
  async step<T>(name: string, fn: () => Promise<T> | T, detail: (value: T) => string): Promise<T> {
    this.#index += 1;
    const started = performance.now();
    const value = await fn();
    const seconds = (performance.now() - started) / 1000;
    const text = detail(value);
    this.records.push({ step: name, seconds: Math.round(seconds * 1000) / 1000, detail: text });
    this.out.line(`[${this.#index}/${this.total}] ${name}: ${text} ... done (${seconds.toFixed(1)} s)`);
    return value;
  }
}
