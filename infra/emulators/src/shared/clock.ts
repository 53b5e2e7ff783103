/** A clock tests can move: the base time source plus an offset advanced by `advance`. */
export interface Clock {
  now(): Date;
  /** Moves the emulator's time forward (or back, with a negative value). */
  advance(ms: number): void;
  /** Total offset applied so far, in milliseconds. */
  readonly offsetMs: number;
}

export class OffsetClock implements Clock {
  private offset = 0;

  constructor(private readonly base: () => Date = () => new Date()) {}

  now(): Date {
    return new Date(this.base().getTime() + this.offset);
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError(`clock advance must be a finite number of ms, got ${ms}`);
    this.offset += ms;
  }

  get offsetMs(): number {
    return this.offset;
  }
}
