/**
 * The real stack for end-to-end tests: SoftHSM token, Key Vault + KMS emulators (in this process, so a test can
 * move the KMS clock), the worker as a CHILD PROCESS (`node dist/main.js`, so a test can SIGKILL it), a client
 * with the payload codec, and the generated worker config. PIN and codec key live in 0600 files only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EMULATOR_AWS_CREDENTIALS,
  EMULATOR_TOKEN,
  type KeyVaultEmulator,
  type KmsEmulator,
  startKeyVaultEmulator,
  startKmsEmulator,
} from '@byok/emulators';
import { createSoftHsm, type SoftHsm } from '@byok/testkit';
import { Client, Connection } from '@temporalio/client';
import { AesGcmPayloadCodec } from '../../src/codec.js';

export const WORKER_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const TOKEN_LABEL = 'ceremony';

export interface Stack {
  readonly dir: string;
  readonly softhsm: SoftHsm;
  readonly pin: string;
  readonly codecKey: Buffer;
  readonly codec: AesGcmPayloadCodec;
  readonly kv: KeyVaultEmulator;
  readonly kms: KmsEmulator;
  readonly configFile: string;
  readonly taskQueue: string;
  readonly env: NodeJS.ProcessEnv;
  client(address: string): Promise<Client>;
  close(): Promise<void>;
}

export async function startStack(dir: string, address: string, taskQueue: string): Promise<Stack> {
  await mkdir(dir, { recursive: true });
  const softhsm = await createSoftHsm({ dir });
  // A PIN no test would guess and no log line could contain by accident.
  const pin = randomBytes(12).toString('hex');
  await softhsm.initToken(TOKEN_LABEL, { pin });
  const pinFile = join(dir, 'hsm.pin');
  await writeFile(pinFile, pin, { mode: 0o600 });
  const codecKey = randomBytes(32);
  const codecFile = join(dir, 'codec.key');
  await writeFile(codecFile, codecKey.toString('base64'), { mode: 0o600 });
  const kv = await startKeyVaultEmulator({ stateDir: join(dir, 'kv'), mode: 'vault' });
  const kms = await startKmsEmulator({ stateDir: join(dir, 'kms'), credentials: EMULATOR_AWS_CREDENTIALS });
  const secretsDir = join(dir, 'secrets');
  await mkdir(secretsDir, { mode: 0o700 });
  const secret = async (name: string, value: string): Promise<string> => {
    const path = join(secretsDir, name);
    await writeFile(path, value, { mode: 0o600 });
    await chmod(path, 0o600);
    return path;
  };
  const configFile = join(dir, 'worker.yaml');
  await writeFile(
    configFile,
    [
      `temporal: { address: '${address}', namespace: default, taskQueue: ${taskQueue} }`,
      `codec: { keys: [{ id: test, file: '${codecFile}' }] }`,
      `evidenceDir: '${join(dir, 'evidence')}'`,
      'hsmProfiles:',
      `  softhsm: { library: '${softhsm.libraryPath}', tokenLabel: ${TOKEN_LABEL}, pin: { file: '${pinFile}' }, oaepHashes: [sha1] }`,
      'clouds:',
      '  azure:',
      `    - { vaultUrl: '${kv.url}', caFile: '${kv.caCertPath}', token: { file: '${await secret('kv.token', EMULATOR_TOKEN)}' }, disableChallengeResourceVerification: true }`,
      '  aws:',
      `    - { region: ${kms.region}, endpoint: '${kms.endpoint}', accessKeyId: { file: '${await secret('aws.id', EMULATOR_AWS_CREDENTIALS.accessKeyId)}' }, secretAccessKey: { file: '${await secret('aws.secret', EMULATOR_AWS_CREDENTIALS.secretAccessKey)}' } }`,
      '',
    ].join('\n'),
  );
  const connections: Connection[] = [];
  return {
    dir,
    softhsm,
    pin,
    codecKey,
    codec: new AesGcmPayloadCodec([{ id: 'test', key: codecKey }]),
    kv,
    kms,
    configFile,
    taskQueue,
    env: { ...softhsm.env, BYOK_WORKER_CONFIG: configFile },
    async client(addr: string) {
      const connection = await Connection.connect({ address: addr });
      connections.push(connection);
      return new Client({
        connection,
        dataConverter: { payloadCodecs: [new AesGcmPayloadCodec([{ id: 'test', key: codecKey }])] },
      });
    },
    async close() {
      for (const c of connections) await c.close().catch(() => undefined);
      await kv.close();
      await kms.close();
      await softhsm.cleanup();
    },
  };
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  log(): string;
  /** Resolves when a log line matches. */
  waitFor(pattern: RegExp, timeoutMs?: number, count?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

let workerCounter = 0;

/** `node dist/main.js` with the stack's config; stdout + stderr go to a log file the test can read. */
export async function spawnWorker(stack: Stack, extraEnv: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
  workerCounter += 1;
  const logFile = join(stack.dir, `worker-${workerCounter}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(process.execPath, [join(WORKER_DIR, 'dist/main.js')], {
    env: { ...process.env, BYOK_LOG_LEVEL: 'info', ...stack.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const read = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const proc: WorkerProcess = {
    child,
    logFile,
    log: read,
    async waitFor(pattern, timeoutMs = 60_000, count = 1) {
      const global = new RegExp(
        pattern.source,
        pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`,
      );
      const until = Date.now() + timeoutMs;
      while ((read().match(global) ?? []).length < count) {
        if (child.exitCode !== null)
          throw new Error(`worker exited (${child.exitCode}): ${read().slice(-2000)}`);
        if (Date.now() > until)
          throw new Error(`timed out waiting for ${pattern} x${count}: ${read().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
      out.end();
    },
  };
  await proc.waitFor(/"msg":"worker\.started"/, 60_000);
  return proc;
}
