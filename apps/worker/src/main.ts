#!/usr/bin/env node
/** `node dist/main.js`: runs the ceremony worker from BYOK_WORKER_CONFIG / environment until SIGINT/SIGTERM. */
import { NativeConnection } from '@temporalio/worker';
import { loadWorkerConfig } from './config.js';
import { createCeremonyWorker } from './worker.js';

const config = loadWorkerConfig();
const connection = await NativeConnection.connect({ address: config.temporal.address });
try {
  const worker = await createCeremonyWorker({ config, connection });
  console.log(`byok worker: task queue ${config.temporal.taskQueue} on ${config.temporal.address}`);
  await worker.run();
} finally {
  await connection.close();
}
