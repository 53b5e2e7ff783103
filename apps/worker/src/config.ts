/**
 * The worker's own configuration: where Temporal is, the payload codec keys, the HSM profiles and where
 * evidence goes. Read once from a YAML/JSON file (BYOK_WORKER_CONFIG) plus environment overrides, fully
 * validated at start-up.
 *
 * Secrets are never values in this file, only *sources*: an HSM PIN or a codec key is `{ env: NAME }` or
 * `{ file: PATH }`, read by the code that needs it at the moment it needs it (the HSM activity reads the PIN
 * itself), so a PIN never travels through a workflow input, the Temporal history or a log line.
 *
 *   temporal: { address: 127.0.0.1:7233, namespace: default, taskQueue: byok-ceremonies }
 *   codec: { keys: [{ id: k2025, env: BYOK_CODEC_KEY }] }      # base64 of 32 bytes; first key encrypts
 *   evidenceDir: /var/lib/byok/evidence
 *   hsmProfiles:
 *     luna-prod: { library: /usr/safenet/lunaclient/lib/libCryptoki2_64.so, tokenLabel: byok,
 *                  pin: { file: /etc/byok/luna-prod.pin }, wrap: one-step }
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ByokError } from '@byok/core';
import { parse } from 'yaml';

export type SecretSource = { readonly env: string } | { readonly file: string };

export interface HsmProfile {
  readonly name: string;
  /** PKCS#11 module path. */
  readonly library: string;
  readonly tokenLabel: string;
  readonly pin: SecretSource;
  /** One-step CKM_RSA_AES_KEY_WRAP or two-step OAEP + RFC 5649 (probed per module). */
  readonly wrap: 'one-step' | 'two-step';
}

export interface CodecKeyConfig {
  readonly id: string;
  readonly source: SecretSource;
}

export interface WorkerConfig {
  readonly temporal: { readonly address: string; readonly namespace: string; readonly taskQueue: string };
  /** Empty: payloads are not encrypted (development only; the worker logs a warning). */
  readonly codecKeys: readonly CodecKeyConfig[];
  readonly evidenceDir: string;
  readonly hsmProfiles: Readonly<Record<string, HsmProfile>>;
}

export const DEFAULT_TASK_QUEUE = 'byok-ceremonies';

function invalid(path: string, problem: string): ByokError {
  return new ByokError('WORKER_CONFIG_INVALID', `worker config: ${path}: ${problem}`);
}

/**
 * Loads BYOK_WORKER_CONFIG (when set) and applies TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, BYOK_TASK_QUEUE,
 * BYOK_EVIDENCE_DIR. Relative paths in the file are relative to the file.
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const file = env.BYOK_WORKER_CONFIG;
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw invalid(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    try {
      raw = parse(text, { version: '1.2', uniqueKeys: true }) ?? {};
    } catch (e) {
      throw invalid(
        file,
        `not valid YAML/JSON: ${e instanceof Error ? (e.message.split('\n')[0] ?? '') : ''}`,
      );
    }
  }
  const overrides: Record<string, unknown> = {};
  const temporal: Record<string, unknown> = {};
  if (env.TEMPORAL_ADDRESS) temporal.address = env.TEMPORAL_ADDRESS;
  if (env.TEMPORAL_NAMESPACE) temporal.namespace = env.TEMPORAL_NAMESPACE;
  if (env.BYOK_TASK_QUEUE) temporal.taskQueue = env.BYOK_TASK_QUEUE;
  if (env.BYOK_EVIDENCE_DIR) overrides.evidenceDir = env.BYOK_EVIDENCE_DIR;
  const base = isRecord(raw) ? raw : {};
  const merged = {
    ...base,
    ...overrides,
    temporal: { ...(isRecord(base.temporal) ? base.temporal : {}), ...temporal },
  };
  return validateWorkerConfig(merged, file ? resolve(file, '..') : process.cwd());
}

/** Validates a decoded config; `baseDir` resolves relative file paths. */
export function validateWorkerConfig(value: unknown, baseDir: string = process.cwd()): WorkerConfig {
  const root = record(value, '(root)', ['temporal', 'codec', 'evidenceDir', 'hsmProfiles']);
  const t = record(root.temporal ?? {}, 'temporal', ['address', 'namespace', 'taskQueue']);
  const address = optionalString(t.address, 'temporal.address') ?? '127.0.0.1:7233';
  if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(address))
    throw invalid('temporal.address', `'${address}' is not host:port`);
  const codec = record(root.codec ?? {}, 'codec', ['keys']);
  const keys = codec.keys === undefined ? [] : list(codec.keys, 'codec.keys');
  const codecKeys = keys.map((k, i): CodecKeyConfig => {
    const at = `codec.keys[${i}]`;
    const r = record(k, at, ['id', 'env', 'file']);
    const id = optionalString(r.id, `${at}.id`);
    if (!id || !/^[A-Za-z0-9._-]{1,64}$/.test(id))
      throw invalid(`${at}.id`, 'a key id of 1-64 of A-Z a-z 0-9 . _ -');
    return { id, source: secretSource(r, at, baseDir) };
  });
  codecKeys.forEach((k, i) => {
    if (codecKeys.findIndex((o) => o.id === k.id) !== i)
      throw invalid(`codec.keys[${i}].id`, `'${k.id}' is listed twice`);
  });
  const profilesRaw = record(root.hsmProfiles ?? {}, 'hsmProfiles', undefined);
  const hsmProfiles: Record<string, HsmProfile> = {};
  for (const [name, v] of Object.entries(profilesRaw)) {
    const at = `hsmProfiles.${name}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
      throw invalid(at, 'profile names are 1-64 of A-Z a-z 0-9 . _ -');
    const p = record(v, at, ['library', 'tokenLabel', 'pin', 'wrap']);
    const library = optionalString(p.library, `${at}.library`);
    const tokenLabel = optionalString(p.tokenLabel, `${at}.tokenLabel`);
    if (!library) throw invalid(`${at}.library`, 'missing (path of the PKCS#11 module)');
    if (!tokenLabel) throw invalid(`${at}.tokenLabel`, 'missing');
    if (typeof p.pin === 'string' || typeof p.pin === 'number') {
      throw invalid(`${at}.pin`, 'never write the PIN itself: give { env: VARIABLE } or { file: PATH }');
    }
    const pin = secretSource(record(p.pin, `${at}.pin`, ['env', 'file']), `${at}.pin`, baseDir);
    const wrap = p.wrap ?? 'two-step';
    if (wrap !== 'one-step' && wrap !== 'two-step') throw invalid(`${at}.wrap`, 'one-step or two-step');
    hsmProfiles[name] = { name, library: pathIn(library, baseDir), tokenLabel, pin, wrap };
  }
  return {
    temporal: {
      address,
      namespace: optionalString(t.namespace, 'temporal.namespace') ?? 'default',
      taskQueue: optionalString(t.taskQueue, 'temporal.taskQueue') ?? DEFAULT_TASK_QUEUE,
    },
    codecKeys,
    evidenceDir: pathIn(optionalString(root.evidenceDir, 'evidenceDir') ?? '.data/evidence', baseDir),
    hsmProfiles,
  };
}

/** Reads a secret from its source, at the moment it is needed. Refuses a world-readable secret file. */
export function readSecret(source: SecretSource, what: string): string {
  if ('env' in source) {
    const value = process.env[source.env];
    if (value === undefined || value === '') {
      throw new ByokError('SECRET_UNAVAILABLE', `${what}: environment variable ${source.env} is not set`);
    }
    return value;
  }
  let mode: number;
  try {
    mode = statSync(source.file).mode;
  } catch {
    throw new ByokError('SECRET_UNAVAILABLE', `${what}: file ${source.file} cannot be read`);
  }
  if (process.platform !== 'win32' && (mode & 0o004) !== 0) {
    throw new ByokError(
      'SECRET_UNAVAILABLE',
      `${what}: ${source.file} is readable by everyone; chmod 600 it`,
    );
  }
  // One trailing newline is what `echo > file` adds; anything else is part of the secret.
  return readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
}

/** A codec key source resolved to its 32 bytes. */
export function readCodecKey(key: CodecKeyConfig): Uint8Array {
  const text = readSecret(key.source, `codec key ${key.id}`).trim();
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== 32) {
    throw new ByokError(
      'WORKER_CONFIG_INVALID',
      `codec key ${key.id} must be base64 of 32 bytes (openssl rand -base64 32)`,
    );
  }
  return new Uint8Array(bytes);
}

function secretSource(r: Record<string, unknown>, at: string, baseDir: string): SecretSource {
  const envName = r.env;
  const file = r.file;
  if ((envName === undefined) === (file === undefined)) throw invalid(at, 'give exactly one of env or file');
  if (envName !== undefined) {
    if (typeof envName !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) {
      throw invalid(`${at}.env`, 'must be an environment variable name');
    }
    return { env: envName };
  }
  if (typeof file !== 'string' || file.length === 0) throw invalid(`${at}.file`, 'must be a path');
  return { file: pathIn(file, baseDir) };
}

function pathIn(path: string, baseDir: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function record(
  value: unknown,
  path: string,
  allowed: readonly string[] | undefined,
): Record<string, unknown> {
  if (!isRecord(value)) throw invalid(path, 'must be a mapping');
  if (allowed) {
    for (const k of Object.keys(value)) {
      if (!allowed.includes(k))
        throw invalid(
          `${path === '(root)' ? '' : `${path}.`}${k}`,
          `unknown field (allowed: ${allowed.join(', ')})`,
        );
    }
  }
  return value;
}

function list(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(path, 'must be a list');
  return value;
}

function optionalString(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw invalid(path, 'must be a non-empty string');
  return value;
}
