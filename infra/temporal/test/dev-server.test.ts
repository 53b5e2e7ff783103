import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CEREMONY_SEARCH_ATTRIBUTES,
  type DevServer,
  findTemporalBinary,
  listSearchAttributes,
  startDevServer,
  TemporalNotInstalledError,
} from '../src/index.js';

describe('findTemporalBinary', () => {
  it('finds the installed CLI and honours TEMPORAL_BIN', () => {
    const found = findTemporalBinary();
    expect(found).toMatch(/temporal(\.exe)?$/);
    expect(findTemporalBinary({ ...process.env, TEMPORAL_BIN: found })).toBe(found);
  });

  it('says how to install it when TEMPORAL_BIN is wrong', () => {
    expect(() => findTemporalBinary({ TEMPORAL_BIN: '/nonexistent/temporal' })).toThrow(
      TemporalNotInstalledError,
    );
    expect(() => findTemporalBinary({ TEMPORAL_BIN: '/nonexistent/temporal' })).toThrow(
      /install-temporal\.sh/,
    );
  });
});

describe('startDevServer', () => {
  let dir: string;
  let server: DevServer | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'byok-temporal-'));
  });
  afterAll(async () => {
    await server?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts on a SQLite file with the ceremony search attributes, and restarts with its workflows', async () => {
    const dbFile = join(dir, 'dev.db');
    server = await startDevServer({ dbFile, searchAttributes: CEREMONY_SEARCH_ATTRIBUTES });
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await listSearchAttributes(server.address)).toMatchObject(CEREMONY_SEARCH_ATTRIBUTES);

    // A workflow with no worker: it stays Running, which is all a restart needs to preserve.
    const workflowId = `persisted-${Date.now()}`;
    let connection = await Connection.connect({ address: server.address });
    let client = new Client({ connection });
    await client.workflow.start('ceremony', {
      taskQueue: 'nobody-polls-this',
      workflowId,
      typedSearchAttributes: [
        { key: defineSearchAttributeKey('CeremonyStatus', SearchAttributeType.KEYWORD), value: 'requested' },
      ],
    });
    await connection.close();
    await server.stop();

    // Restart on the same file: same workflow, same attributes.
    server = await startDevServer({ dbFile, searchAttributes: CEREMONY_SEARCH_ATTRIBUTES });
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
    const described = await client.workflow.getHandle(workflowId).describe();
    expect(described.status.name).toBe('RUNNING');
    expect(
      described.typedSearchAttributes.get(
        defineSearchAttributeKey('CeremonyStatus', SearchAttributeType.KEYWORD),
      ),
    ).toBe('requested');
    await connection.close();

    // A crash (SIGKILL) loses nothing either; a new attribute is added to the existing database on restart.
    await server.kill();
    server = await startDevServer({
      dbFile,
      searchAttributes: { ...CEREMONY_SEARCH_ATTRIBUTES, CeremonyTestOnly: 'Keyword' },
    });
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
    expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');
    expect(await listSearchAttributes(server.address)).toMatchObject({ CeremonyTestOnly: 'Keyword' });
    await client.workflow.getHandle(workflowId).terminate('test done');
    await connection.close();
    await server.stop();
    server = undefined;
  });
});
