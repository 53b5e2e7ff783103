/** The CLI's Temporal client: the worker config's address, namespace, TLS and codec keys. */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { loadWorkerConfig, type WorkerConfig } from '../config.js';
import { connectClient } from '../connection.js';

export async function withClient<T>(use: (client: Client, config: WorkerConfig) => Promise<T>): Promise<T> {
  const config = loadWorkerConfig();
  const client = await connectClient(config);
  try {
    return await use(client, config);
  } finally {
    await client.connection.close();
  }
}

export function ceremonyHandle(client: Client, id: string): WorkflowHandle {
  return client.workflow.getHandle(id);
}
