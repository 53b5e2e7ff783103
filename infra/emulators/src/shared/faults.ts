/**
 * Fault injection: tests queue failures that the next requests get instead of an answer, to exercise the
 * clients' retry and timeout paths against the same wire shapes the real services use for them.
 */

/** `throttle`: 429 with Retry-After (Key Vault) / ThrottlingException (KMS); `error`: 500; `hang`: no answer. */
export type FaultKind = 'throttle' | 'error' | 'hang';

export const FAULT_KINDS: readonly FaultKind[] = ['throttle', 'error', 'hang'];

export interface Fault {
  readonly kind: FaultKind;
  /** Sent as `Retry-After` with `throttle` faults. */
  readonly retryAfterSeconds: number;
}

export interface InjectOptions {
  /** How many of the next requests get this fault; default 1. */
  readonly count?: number;
  /** `Retry-After` for `throttle`; default 0 so tests do not wait. */
  readonly retryAfterSeconds?: number;
}

/** The handle tests hold: `faults.inject('throttle', { count: 2 })`. */
export interface Faults {
  inject(kind: FaultKind, opts?: InjectOptions): void;
  /** Forgets queued faults (hanging requests stay hung until the emulator closes). */
  clear(): void;
  /** Faults still queued. */
  readonly pending: number;
  /** Requests that received a fault so far. */
  readonly injected: number;
}

export class FaultQueue implements Faults {
  private readonly queue: Fault[] = [];
  private served = 0;

  inject(kind: FaultKind, opts: InjectOptions = {}): void {
    const count = opts.count ?? 1;
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`fault count must be a positive integer, got ${count}`);
    const retryAfterSeconds = opts.retryAfterSeconds ?? 0;
    if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
      throw new RangeError(`retryAfterSeconds must be a non-negative integer, got ${retryAfterSeconds}`);
    }
    for (let i = 0; i < count; i++) this.queue.push({ kind, retryAfterSeconds });
  }

  clear(): void {
    this.queue.length = 0;
  }

  get pending(): number {
    return this.queue.length;
  }

  get injected(): number {
    return this.served;
  }

  /** The fault the current request must get, if any. */
  take(): Fault | undefined {
    const fault = this.queue.shift();
    if (fault) this.served++;
    return fault;
  }
}
