/**
 * When a call may be tried again. The SDKs' own retry policies handle reads (configured in config.ts); writes
 * go through clients with SDK retries off and come here, because "no answer" after a create or an import
 * does not mean "not done":
 * - throttled: the service refused before doing anything, so the same call is repeated after a backoff;
 * - no answer / 5xx: the state is read first (`reconcile`); only if the write did not happen is it repeated;
 * - anything else: thrown at once.
 */
import { type CloudError, isCloudError } from './errors.js';

export interface RetrySettings {
  /** Attempts in total, first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetrySettings = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 20_000 };

export function backoffMs(attempt: number, settings: RetrySettings): number {
  const exp = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** (attempt - 1));
  // Full jitter halves herd effects when several ceremonies hit one vault.
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface WriteAttempt<T> {
  /** The write; must throw CloudError (map with toCloudError inside). */
  readonly attempt: () => Promise<T>;
  /** After an ambiguous failure: the result if the write did happen, undefined if it did not. */
  readonly reconcile: () => Promise<T | undefined>;
  /**
   * For writes whose effect cannot be read back: an ambiguous failure is not repeated but thrown as this
   * (typically the error amended with what to look for).
   */
  readonly ambiguous?: (err: CloudError) => CloudError;
  readonly settings: RetrySettings;
  readonly abortSignal?: AbortSignal;
  /** Called with a one-line note when something was retried or reconciled (goes to the result's notes). */
  readonly note?: (line: string) => void;
}

const AMBIGUOUS = new Set(['CLOUD_UNAVAILABLE', 'CLOUD_TIMEOUT']);

export async function writeOnce<T>(w: WriteAttempt<T>): Promise<T> {
  let last: CloudError | undefined;
  for (let attempt = 1; attempt <= w.settings.maxAttempts; attempt++) {
    try {
      return await w.attempt();
    } catch (err) {
      if (!isCloudError(err)) throw err;
      last = err;
      if (err.code === 'CLOUD_THROTTLED') {
        w.note?.(`attempt ${attempt} was throttled; repeated after a backoff (nothing had been done)`);
      } else if (AMBIGUOUS.has(err.code)) {
        if (w.ambiguous) throw w.ambiguous(err);
        const done = await w.reconcile();
        if (done !== undefined) {
          w.note?.(`attempt ${attempt} got no clear answer (${err.code}) but the state shows it succeeded`);
          return done;
        }
        w.note?.(
          `attempt ${attempt} got no clear answer (${err.code}); the state shows nothing was done, so it was repeated`,
        );
      } else {
        throw err;
      }
      if (attempt < w.settings.maxAttempts) await sleep(backoffMs(attempt, w.settings), w.abortSignal);
    }
  }
  throw last ?? new Error('writeOnce: no attempt made');
}

/** Reads: the SDK retries HTTP failures, but not a request it aborted on its own timeout. */
export async function readWithRetry<T>(
  read: () => Promise<T>,
  settings: RetrySettings,
  abortSignal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      const retry = isCloudError(err) && (err.code === 'CLOUD_TIMEOUT' || err.code === 'CLOUD_THROTTLED');
      if (!retry || attempt >= settings.maxAttempts) throw err;
      await sleep(backoffMs(attempt, settings), abortSignal);
    }
  }
}
