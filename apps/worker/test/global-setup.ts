/** Starts one real Temporal dev server for every worker test file, and stops it at the end. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CEREMONY_SEARCH_ATTRIBUTES, type DevServer, startDevServer } from '@byok/temporal-dev';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

let server: DevServer | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'byok-worker-temporal-'));
  server = await startDevServer({
    dbFile: join(dir, 'dev.db'),
    searchAttributes: CEREMONY_SEARCH_ATTRIBUTES,
  });
  project.provide('temporalAddress', server.address);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}
