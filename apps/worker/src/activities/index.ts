import { Context } from '@temporalio/activity';
import type { WorkerConfig } from '../config.js';
import { logLine } from '../log.js';
import { createCloudActivities } from './cloud.js';
import { hangAtCrashPoint } from './crash.js';
import { createEvidenceActivities } from './evidence.js';
import { heartbeatDetails } from './heartbeat.js';
import { createHsmActivities } from './hsm.js';
import type { CeremonyActivities } from './types.js';

export { CEREMONY_TAG, cloudKeySpec, createCloudActivities, prepareRequest } from './cloud.js';
export { createEvidenceActivities } from './evidence.js';
export { createHsmActivities, toKeySpec, withHsmSession } from './hsm.js';
export * from './types.js';

const HEARTBEAT_MS = 2_000;

function ceremonyOf(args: unknown[]): string | undefined {
  const first = args[0];
  if (typeof first === 'object' && first !== null && 'ceremonyId' in first) {
    const id = (first as { ceremonyId: unknown }).ceremonyId;
    return typeof id === 'string' ? id : undefined;
  }
  return undefined;
}

/**
 * Every activity: heartbeats while it runs (so a dead worker is noticed in seconds, and a cancellation
 * reaches the activity's signal), repeating the latest checkpoint (heartbeat.ts) so a retry still gets it;
 * logs start / end / failure as JSON lines with ids and codes only. Test-only crash points: crash.ts.
 */
function instrument<T extends object>(activities: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    if (typeof fn !== 'function') continue;
    out[name] = async (...args: unknown[]) => {
      const ceremonyId = ceremonyOf(args);
      let attempt = 1;
      let timer: NodeJS.Timeout | undefined;
      try {
        const ctx = Context.current();
        attempt = ctx.info.attempt;
        timer = setInterval(() => ctx.heartbeat(heartbeatDetails(ctx)), HEARTBEAT_MS);
      } catch {
        // not inside an activity (direct calls from the baseline benchmark)
      }
      const started = performance.now();
      logLine('info', 'activity.start', { activity: name, ceremonyId, attempt, pid: process.pid });
      try {
        const result: unknown = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        await hangAtCrashPoint(name, ceremonyId, name);
        logLine('info', 'activity.done', {
          activity: name,
          ceremonyId,
          attempt,
          ms: Math.round(performance.now() - started),
        });
        return result;
      } catch (err) {
        const e = err as { type?: string; code?: string; message?: string };
        logLine('warn', 'activity.failed', {
          activity: name,
          ceremonyId,
          attempt,
          type: e.type ?? e.code ?? 'Error',
          message: e.message,
        });
        throw err;
      } finally {
        if (timer) clearInterval(timer);
      }
    };
  }
  return out as T;
}

/** Every activity the ceremony workflow calls; `overrides` replaces some (tests). */
export function createCeremonyActivities(
  config: WorkerConfig,
  overrides: Partial<CeremonyActivities> = {},
): CeremonyActivities {
  return instrument({
    ...createHsmActivities(config),
    ...createCloudActivities(config),
    ...createEvidenceActivities(config),
    ...overrides,
  });
}
