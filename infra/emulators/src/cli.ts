#!/usr/bin/env node
/**
 * byok-emulators start --state DIR [--kv-port N] [--kms-port N] [--kv-mode vault|managedhsm] [--kms-wrapping-key-pool N]
 * Starts both emulators and prints one JSON line with their endpoints when they are ready; stops on
 * SIGINT/SIGTERM. Errors are one line on stderr and exit code 1 (2 for usage mistakes).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EMULATOR_TOKEN, startKeyVaultEmulator } from './keyvault/server.js';
import { EMULATOR_AWS_CREDENTIALS, startKmsEmulator } from './kms/server.js';

const USAGE =
  'usage: byok-emulators start --state DIR [--kv-port N] [--kms-port N] [--kv-mode vault|managedhsm]\n' +
  '                            [--kms-wrapping-key-pool N]';

class UsageError extends Error {}

function port(value: string | undefined, flag: string): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`${flag} must be a port number (0-65535), got '${value}'`);
  return n;
}

async function start(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      state: { type: 'string' },
      'kv-port': { type: 'string' },
      'kms-port': { type: 'string' },
      'kv-mode': { type: 'string' },
      'kms-wrapping-key-pool': { type: 'string' },
    },
    strict: true,
  });
  if (!values.state) throw new UsageError('--state DIR is required');
  const mode = values['kv-mode'] ?? 'vault';
  if (mode !== 'vault' && mode !== 'managedhsm')
    throw new UsageError(`--kv-mode must be vault or managedhsm, got '${mode}'`);
  const stateDir = resolve(values.state);
  const kv = await startKeyVaultEmulator({
    stateDir: resolve(stateDir, 'keyvault'),
    port: port(values['kv-port'], '--kv-port'),
    mode,
  });
  const pool = values['kms-wrapping-key-pool'] ?? '0';
  if (!/^\d{1,4}$/.test(pool))
    throw new UsageError(`--kms-wrapping-key-pool must be a count (0-9999), got '${pool}'`);
  const kms = await startKmsEmulator({
    stateDir: resolve(stateDir, 'kms'),
    port: port(values['kms-port'], '--kms-port'),
    wrappingKeyPool: Number(pool),
  });
  process.stdout.write(
    `${JSON.stringify({
      keyvault: {
        url: kv.url,
        mode: kv.mode,
        resource: kv.resource,
        caCertPath: kv.caCertPath,
        token: EMULATOR_TOKEN,
      },
      kms: { endpoint: kms.endpoint, region: kms.region, ...EMULATOR_AWS_CREDENTIALS },
    })}\n`,
  );
  const stop = () => {
    void Promise.all([kv.close(), kms.close()]).then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  try {
    if (command !== 'start') throw new UsageError(command ? `unknown command '${command}'` : 'no command');
    await start(rest);
  } catch (err) {
    const usage =
      err instanceof UsageError ||
      (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'));
    process.stderr.write(
      `error: ${err instanceof Error ? err.message : String(err)}\n${usage ? `${USAGE}\n` : ''}`,
    );
    process.exit(usage ? 2 : 1);
  }
}

void main();
