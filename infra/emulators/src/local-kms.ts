/**
 * Runs the third-party local-kms (github.com/nsmithuk/local-kms, installed by scripts/install-local-kms.sh)
 * for tests that want to prove our AWS SDK usage against an emulator we did not write.
 * It listens on PORT (all interfaces: its own choice, it has no bind-address setting) and keeps its database
 * in KMS_DATA_PATH; we give it a free port and the caller's folder, and no seed file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** <repo>/.data/bin/local-kms, or LOCAL_KMS_BIN. */
export function localKmsBinary(): string {
  const fromEnv = process.env.LOCAL_KMS_BIN;
  if (fromEnv) return fromEnv;
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  return join(repoRoot, '.data', 'bin', 'local-kms');
}

/** The install script, for callers that want to install on demand. */
export function localKmsInstallScript(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../scripts/install-local-kms.sh');
}

export interface LocalKms {
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      done(true);
    });
    sock.once('error', () => done(false));
  });
}

export async function startLocalKms(
  dataDir: string,
  opts: { binary?: string; region?: string; timeoutMs?: number } = {},
): Promise<LocalKms> {
  const binary = opts.binary ?? localKmsBinary();
  if (!existsSync(binary))
    throw new Error(
      `local-kms is not installed at ${binary}; run infra/emulators/scripts/install-local-kms.sh`,
    );
  const port = await freePort();
  const region = opts.region ?? 'us-east-1';
  const child: ChildProcess = spawn(binary, [], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      KMS_DATA_PATH: dataDir,
      // No seeding: point at a file that does not exist rather than its default /init/seed.yaml.
      KMS_SEED_PATH: join(dataDir, 'no-seed.yaml'),
      KMS_REGION: region,
      KMS_ACCOUNT_ID: '111122223333',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  while (!(await canConnect(port))) {
    if (exitCode !== undefined)
      throw new Error(`local-kms exited with code ${exitCode}: ${stderr.trim().split('\n').pop() ?? ''}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `local-kms did not listen on port ${port} within the timeout: ${stderr.trim().split('\n').pop() ?? ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    region,
    async close() {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
