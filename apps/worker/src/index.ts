/**
 * @byok/worker: the ceremony worker and what clients need to talk to it (messages, codec, config).
 * Workflow code itself (workflows.ts, ceremony-record.ts) is not exported: it only runs in the bundle.
 */
export * from './activities/index.js';
export { AesGcmPayloadCodec, type CodecKey, ENCRYPTED_ENCODING, KEY_ID_METADATA } from './codec.js';
export * from './config.js';
export * from './messages.js';
export {
  bundleCeremonyWorkflows,
  type CeremonyWorkerOptions,
  ceremonyDataConverter,
  createCeremonyWorker,
  createPayloadCodec,
  workflowsPath,
} from './worker.js';
