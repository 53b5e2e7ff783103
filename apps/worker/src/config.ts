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
 *                  pin: { file: /etc/byok/luna-prod.pin }, wrap: one-step, oaepHashes: [sha1, sha256] }
 *   clouds:                                   # where a ceremony's target is, and how to reach it
 *     azure: [{ vaultUrl: https://contoso.vault.azure.net }]          # DefaultAzureCredential
 *     aws: [{ region: eu-west-1 }]                                      # default provider chain
 *   # emulators: { vaultUrl, caFile, token: { env: NAME } } / { region, endpoint, accessKeyId: {env}, secretAccessKey: {env} }
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
  /** OAEP hashes the HSM can wrap with (SoftHSM: sha1 only); the clouds choose their algorithm from them. */
  readonly oaepHashes: readonly ('sha1' | 'sha256')[];
}

/**
 * How the worker reaches one cloud target. A ceremony definition names only the vault URL / region; the
 * endpoint, CA and credentials are the operator's business and live here.
 */
export type CloudTargetConfig =
  | {
      readonly cloud: 'azure';
      readonly vaultUrl: string;
      readonly caFile?: string;
      /** A fixed bearer token (emulator); absent: DefaultAzureCredential. */
      readonly token?: SecretSource;
      readonly disableChallengeResourceVerification: boolean;
    }
  | {
      readonly cloud: 'aws';
      readonly region: string;
      readonly endpoint?: string;
      readonly caFile?: string;
      /** Static keys (emulator); absent: the SDK's default provider chain. */
      readonly accessKeyId?: SecretSource;
      readonly secretAccessKey?: SecretSource;
    };

export interface CodecKeyConfig {
  readonly id: string;
  readonly source: SecretSource;
}

/** TLS to the Temporal frontend (a cluster behind TLS, or Temporal Cloud's mTLS with a client certificate). */
export interface TemporalTlsConfig {
  readonly serverName?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface WorkerConfig {
  readonly temporal: {
    readonly address: string;
    readonly namespace: string;
    readonly taskQueue: string;
    readonly tls?: TemporalTlsConfig;
  };
  /** Empty: payloads are not encrypted (development only; the worker logs a warning). */
  readonly codecKeys: readonly CodecKeyConfig[];
  readonly evidenceDir: string;
  readonly hsmProfiles: Readonly<Record<string, HsmProfile>>;
  readonly clouds: readonly CloudTargetConfig[];
}

export const DEFAULT_TASK_QUEUE = 'byok-ceremonies';

function invalid(path: string, problem: string): ByokError {
  return new ByokError('WORKER_CONFIG_INVALID', `worker config: ${path}: ${problem}`);
}

/**
 * Loads BYOK_WORKER_CONFIG (when set) and applies TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, BYOK_TASK_QUEUE,
 * BYOK_EVIDENCE_DIR, TEMPORAL_TLS_{CA,CERT,KEY}_FILE, TEMPORAL_TLS_SERVER_NAME. Relative paths in the file are relative to the file.
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
  // Temporal Cloud / a TLS cluster from the environment (Kubernetes secrets mounted as files).
  const tlsEnv: Record<string, string> = {};
  if (env.TEMPORAL_TLS_CA_FILE) tlsEnv.caFile = env.TEMPORAL_TLS_CA_FILE;
  if (env.TEMPORAL_TLS_CERT_FILE) tlsEnv.certFile = env.TEMPORAL_TLS_CERT_FILE;
  if (env.TEMPORAL_TLS_KEY_FILE) tlsEnv.keyFile = env.TEMPORAL_TLS_KEY_FILE;
  if (env.TEMPORAL_TLS_SERVER_NAME) tlsEnv.serverName = env.TEMPORAL_TLS_SERVER_NAME;
  if (Object.keys(tlsEnv).length > 0) temporal.tls = tlsEnv;
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
  const root = record(value, '(root)', ['temporal', 'codec', 'evidenceDir', 'hsmProfiles', 'clouds']);
  const t = record(root.temporal ?? {}, 'temporal', ['address', 'namespace', 'taskQueue', 'tls']);
  const address = optionalString(t.address, 'temporal.address') ?? '127.0.0.1:7233';
  if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(address))
    throw invalid('temporal.address', `'${address}' is not host:port`);
  const tls = t.tls === undefined ? undefined : temporalTls(t.tls, baseDir);
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
    const p = record(v, at, ['library', 'tokenLabel', 'pin', 'wrap', 'oaepHashes']);
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
    const hashes = p.oaepHashes === undefined ? ['sha1', 'sha256'] : list(p.oaepHashes, `${at}.oaepHashes`);
    const oaepHashes = hashes.map((h, i) => {
      if (h !== 'sha1' && h !== 'sha256') throw invalid(`${at}.oaepHashes[${i}]`, 'sha1 or sha256');
      return h;
    });
    if (oaepHashes.length === 0) throw invalid(`${at}.oaepHashes`, 'name at least one of sha1, sha256');
    hsmProfiles[name] = { name, library: pathIn(library, baseDir), tokenLabel, pin, wrap, oaepHashes };
  }
  const clouds = cloudTargets(root.clouds ?? {}, baseDir);
  return {
    temporal: {
      address,
      namespace: optionalString(t.namespace, 'temporal.namespace') ?? 'default',
      taskQueue: optionalString(t.taskQueue, 'temporal.taskQueue') ?? DEFAULT_TASK_QUEUE,
      ...(tls ? { tls } : {}),
    },
    codecKeys,
    evidenceDir: pathIn(optionalString(root.evidenceDir, 'evidenceDir') ?? '.data/evidence', baseDir),
    hsmProfiles,
    clouds,
  };
}

function temporalTls(value: unknown, baseDir: string): TemporalTlsConfig {
  const r = record(value, 'temporal.tls', ['serverName', 'caFile', 'certFile', 'keyFile']);
  const file = (k: string): string | undefined => {
    const v = optionalString(r[k], `temporal.tls.${k}`);
    return v === undefined ? undefined : pathIn(v, baseDir);
  };
  const serverName = optionalString(r.serverName, 'temporal.tls.serverName');
  const caFile = file('caFile');
  const certFile = file('certFile');
  const keyFile = file('keyFile');
  if ((certFile === undefined) !== (keyFile === undefined))
    throw invalid('temporal.tls', 'give both certFile and keyFile (mTLS) or neither');
  return {
    ...(serverName ? { serverName } : {}),
    ...(caFile ? { caFile } : {}),
    ...(certFile && keyFile ? { certFile, keyFile } : {}),
  };
}

function cloudTargets(value: unknown, baseDir: string): CloudTargetConfig[] {
  const r = record(value, 'clouds', ['azure', 'aws']);
  const out: CloudTargetConfig[] = [];
  (r.azure === undefined ? [] : list(r.azure, 'clouds.azure')).forEach((v, i) => {
    const at = `clouds.azure[${i}]`;
    const a = record(v, at, ['vaultUrl', 'caFile', 'token', 'disableChallengeResourceVerification']);
    const vaultUrl = optionalString(a.vaultUrl, `${at}.vaultUrl`);
    if (!vaultUrl || !/^https:\/\/[^/]+\/?$/.test(vaultUrl))
      throw invalid(`${at}.vaultUrl`, 'an https origin');
    const caFile = optionalString(a.caFile, `${at}.caFile`);
    const disable = a.disableChallengeResourceVerification ?? false;
    if (typeof disable !== 'boolean')
      throw invalid(`${at}.disableChallengeResourceVerification`, 'true or false');
    out.push({
      cloud: 'azure',
      vaultUrl: vaultUrl.replace(/\/$/, ''),
      ...(caFile ? { caFile: pathIn(caFile, baseDir) } : {}),
      ...(a.token === undefined
        ? {}
        : { token: secretSource(record(a.token, `${at}.token`, ['env', 'file']), `${at}.token`, baseDir) }),
      disableChallengeResourceVerification: disable,
    });
  });
  (r.aws === undefined ? [] : list(r.aws, 'clouds.aws')).forEach((v, i) => {
    const at = `clouds.aws[${i}]`;
    const a = record(v, at, ['region', 'endpoint', 'caFile', 'accessKeyId', 'secretAccessKey']);
    const region = optionalString(a.region, `${at}.region`);
    if (!region) throw invalid(`${at}.region`, 'missing');
    const endpoint = optionalString(a.endpoint, `${at}.endpoint`);
    const caFile = optionalString(a.caFile, `${at}.caFile`);
    if ((a.accessKeyId === undefined) !== (a.secretAccessKey === undefined))
      throw invalid(at, 'give both accessKeyId and secretAccessKey, or neither (default provider chain)');
    const source = (k: 'accessKeyId' | 'secretAccessKey'): SecretSource =>
      secretSource(record(a[k], `${at}.${k}`, ['env', 'file']), `${at}.${k}`, baseDir);
    out.push({
      cloud: 'aws',
      region,
      ...(endpoint ? { endpoint } : {}),
      ...(caFile ? { caFile: pathIn(caFile, baseDir) } : {}),
      ...(a.accessKeyId === undefined
        ? {}
        : { accessKeyId: source('accessKeyId'), secretAccessKey: source('secretAccessKey') }),
    });
  });
  return out;
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
