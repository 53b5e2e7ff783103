/**
 * Structured logs: one JSON object per line on stdout (`{"time","level","msg",...fields}`), for the worker
 * and its activities. Callers pass ids, names, durations and error codes only: never inputs, PINs, tokens
 * or key bytes (no activity input is ever logged whole).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

const RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** BYOK_LOG_LEVEL (debug | info | warn | error), default info. */
function threshold(): number {
  const level = process.env.BYOK_LOG_LEVEL as LogLevel | undefined;
  return level && level in RANK ? RANK[level] : RANK.info;
}

export function logLine(level: LogLevel, msg: string, fields: LogFields = {}): void {
  if (RANK[level] < threshold()) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  if (level === 'error' || level === 'warn') process.stderr.write(`${line}\n`);
  else process.stdout.write(`${line}\n`);
}
