#!/usr/bin/env node
/**
 * `node dist/main.js`: runs the ceremony worker from BYOK_WORKER_CONFIG / environment until SIGINT/SIGTERM.
 * Logs are JSON lines (the worker's own and the Temporal runtime's); no PIN, token or key byte is logged.
 */
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { closeCloudTargets } from './activities/cloud.js';
import { closeHsmProfiles } from './activities/hsm.js';
import { loadWorkerConfig } from './config.js';
import { temporalTls } from './connection.js';
import { type LogFields, type LogLevel, logLine } from './log.js';
import { createCeremonyWorker } from './worker.js';

const LEVELS: Readonly<Record<string, LogLevel>> = {
  TRACE: 'debug',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

Runtime.install({
  logger: new DefaultLogger('INFO', (entry) => {
    // Only the message and scalar metadata; workflow/activity arguments never reach a log line.
    const fields: Record<string, string | number | boolean | undefined> = {};
    for (const [k, v] of Object.entries(entry.meta ?? {})) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = v;
    }
    logLine(LEVELS[entry.level] ?? 'info', entry.message, fields as LogFields);
  }),
});

try {
  const config = loadWorkerConfig();
  const tls = temporalTls(config);
  const connection = await NativeConnection.connect({
    address: config.temporal.address,
    ...(tls ? { tls } : {}),
  });
  try {
    const worker = await createCeremonyWorker({ config, connection });
    logLine('info', 'worker.started', {
      taskQueue: config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      address: config.temporal.address,
      tls: tls !== undefined,
      pid: process.pid,
    });
    await worker.run();
    logLine('info', 'worker.stopped', { pid: process.pid });
  } finally {
    closeHsmProfiles();
    closeCloudTargets();
    await connection.close();
  }
} catch (err) {
  const e = err as { code?: string; message?: string };
  logLine('error', 'worker.failed', { code: e.code ?? 'Error', message: e.message });
  process.exitCode = 1;
}
