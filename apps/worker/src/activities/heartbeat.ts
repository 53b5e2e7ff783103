/**
 * Heartbeat details as an activity's checkpoint. Temporal keeps the details of an activity's last heartbeat
 * across a worker crash and hands them to the next attempt (`info.heartbeatDetails`); but every heartbeat
 * replaces them, so the periodic heartbeat (index.ts) must repeat the latest details, never send none.
 */
import { Context } from '@temporalio/activity';

const latest = new WeakMap<Context, unknown>();

function current(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // outside an activity (direct calls from the baseline benchmark)
  }
}

/** Records `details` now (a heartbeat) and makes the periodic heartbeat repeat them. */
export function checkpoint(details: unknown): void {
  const ctx = current();
  if (!ctx) return;
  latest.set(ctx, details);
  ctx.heartbeat(details);
}

/** The details to heartbeat: this attempt's latest checkpoint, else what the previous attempt left. */
export function heartbeatDetails(ctx: Context): unknown {
  return latest.has(ctx) ? latest.get(ctx) : ctx.info.heartbeatDetails;
}

/** What the previous attempt of this activity checkpointed (undefined on a first attempt). */
export function previousCheckpoint(): unknown {
  return current()?.info.heartbeatDetails;
}
