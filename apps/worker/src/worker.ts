/**
 * Builds the ceremony worker: workflow bundle, activities, payload codec, from a validated WorkerConfig.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import {
  type BundleOptions,
  bundleWorkflowCode,
  type NativeConnection,
  Worker,
  type WorkflowBundle,
  type WorkflowBundlePath,
} from '@temporalio/worker';
import { createCeremonyActivities } from './activities/index.js';
import type { CeremonyActivities } from './activities/types.js';
import { AesGcmPayloadCodec } from './codec.js';
import { readCodecKey, type WorkerConfig } from './config.js';
import { logLine } from './log.js';

const SRC_DIR = dirname(fileURLToPath(import.meta.url));

/** src/workflows.ts when running from sources (tests), dist/workflows.js when built. */
export function workflowsPath(): string {
  const ts = join(SRC_DIR, 'workflows.ts');
  return existsSync(ts) ? ts : join(SRC_DIR, 'workflows.js');
}

/**
 * Workflow code imports only `@byok/core/ceremony/workflow`, core's sandbox-safe entry (quorum rules,
 * digest, audit chain: no node:crypto, no Buffer). The `source` condition makes the bundle take it from
 * the TypeScript sources, like vitest and esbuild do, so a workflow never runs against a stale build.
 */
const webpackConfigHook: NonNullable<BundleOptions['webpackConfigHook']> = (config) => ({
  ...config,
  resolve: {
    ...config.resolve,
    conditionNames: [
      'source',
      ...(config.resolve?.conditionNames ?? ['import', 'require', 'node', 'default']),
    ],
  },
});

/** Bundles the ceremony workflows once (tests share a bundle across workers; the build prebuilds it). */
export function bundleCeremonyWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: workflowsPath(), webpackConfigHook, logger: quietLogger });
}

/** Written by `pnpm build` (scripts/bundle-workflows.mjs) next to the built worker. */
export const PREBUILT_BUNDLE = join(SRC_DIR, 'workflow-bundle.js');

/**
 * The built worker runs the bundle the build made; running from sources (tests) bundles afresh, so a test
 * never runs a stale workflow.
 */
function prebuiltBundle(): WorkflowBundlePath | undefined {
  if (existsSync(join(SRC_DIR, 'workflows.ts')) || !existsSync(PREBUILT_BUNDLE)) return undefined;
  return { codePath: PREBUILT_BUNDLE };
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

/** The codec from the config's keys; undefined (no encryption) when none are configured. */
export function createPayloadCodec(config: WorkerConfig): PayloadCodec | undefined {
  if (config.codecKeys.length === 0) return undefined;
  return new AesGcmPayloadCodec(config.codecKeys.map((k) => ({ id: k.id, key: readCodecKey(k) })));
}

/** What clients and the worker must share to read each other's payloads. */
export function ceremonyDataConverter(codec: PayloadCodec | undefined): DataConverter {
  return codec ? { payloadCodecs: [codec] } : {};
}

export interface CeremonyWorkerOptions {
  readonly config: WorkerConfig;
  readonly connection: NativeConnection;
  /** Replaces some activities (tests; the cloud ones once @byok/clouds lands). */
  readonly activities?: Partial<CeremonyActivities>;
  /** Overrides the codec built from the config. */
  readonly codec?: PayloadCodec;
  /** A prebuilt bundle; bundled now when omitted. */
  readonly workflowBundle?: WorkflowBundle;
  readonly identity?: string;
}

export async function createCeremonyWorker(opts: CeremonyWorkerOptions): Promise<Worker> {
  const codec = opts.codec ?? createPayloadCodec(opts.config);
  if (!codec) logLine('warn', 'worker.no-codec', { detail: 'payloads reach Temporal unencrypted' });
  return Worker.create({
    connection: opts.connection,
    namespace: opts.config.temporal.namespace,
    taskQueue: opts.config.temporal.taskQueue,
    workflowBundle: opts.workflowBundle ?? prebuiltBundle() ?? (await bundleCeremonyWorkflows()),
    activities: createCeremonyActivities(opts.config, opts.activities),
    dataConverter: ceremonyDataConverter(codec),
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
}
