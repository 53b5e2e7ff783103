/**
 * Test-only crash points: with BYOK_TEST_CRASH_POINTS=1, the step `name` of a ceremony whose id ends with
 * `-crash-<name>` logs `activity.crash-point` and then hangs (the activity keeps heartbeating), so a test can
 * SIGKILL the worker at a known place: the effect happened, the completion is lost. `name` is an activity
 * name (the hang comes after its work) or a point inside one (`afterCreateKey`: AWS CreateKey answered and
 * the key id was heartbeated; `afterCreateKeyUnrecorded`: CreateKey answered, nothing recorded yet).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { logLine } from '../log.js';

export function crashPoint(name: string, ceremonyId: string | undefined): boolean {
  return process.env.BYOK_TEST_CRASH_POINTS === '1' && ceremonyId?.endsWith(`-crash-${name}`) === true;
}

/** Hangs (10 minutes) when `name` is this ceremony's crash point; returns at once otherwise. */
export async function hangAtCrashPoint(
  name: string,
  ceremonyId: string | undefined,
  activity: string,
): Promise<void> {
  if (!crashPoint(name, ceremonyId)) return;
  logLine('info', 'activity.crash-point', { activity, point: name, ceremonyId, pid: process.pid });
  await sleep(10 * 60_000);
}
