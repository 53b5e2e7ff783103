/**
 * Connections to Temporal from the worker config: plain on a dev server, TLS / mTLS for a cluster behind
 * TLS or Temporal Cloud (client certificate + key). Worker and CLI share it, and the codec with it.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';

import type { WorkerConfig } from './config.js';
import { ceremonyDataConverter, createPayloadCodec } from './worker.js';

export function temporalTls(config: WorkerConfig): TLSConfig | undefined {
  const tls = config.temporal.tls;
  if (!tls) return undefined;
  return {
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(tls.caFile ? { serverRootCACertificate: readFileSync(tls.caFile) } : {}),
    ...(tls.certFile && tls.keyFile
      ? { clientCertPair: { crt: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } }
      : {}),
  };
}

/** A client that encrypts and decrypts payloads with the worker's codec keys. */
export async function connectClient(config: WorkerConfig): Promise<Client> {
  const tls = temporalTls(config);
  const connection = await Connection.connect({
    address: config.temporal.address,
    ...(tls ? { tls } : {}),
  });
  return new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: ceremonyDataConverter(createPayloadCodec(config)),
  });
}
