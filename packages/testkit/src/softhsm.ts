import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { firstExisting, requireTool } from './tools.js';

const execFileAsync = promisify(execFile);

const SOFTHSM_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

/**
 * Path of SoftHSM's PKCS#11 module on this machine. Falls back to the Debian path when none is found,
 * so importing the testkit never throws; `createSoftHsm` reports the missing library clearly.
 */
export const SOFTHSM_LIBRARY: string = firstExisting(SOFTHSM_CANDIDATES) ?? '/usr/lib/softhsm/libsofthsm2.so';

export const DEFAULT_USER_PIN = '12345678';
export const DEFAULT_SO_PIN = '87654321';

export interface SoftHsmToken {
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
}

export interface SoftHsm {
  /** The per-test folder: holds softhsm2.conf and tokens/. */
  readonly dir: string;
  readonly confPath: string;
  readonly libraryPath: string;
  /**
   * What a child process needs to see this SoftHSM. For in-process use (pkcs11js/koffi loading the module in
   * the test process) assign it to process.env *before* the first C_Initialize: SoftHSM reads SOFTHSM2_CONF
   * from the C environment when C_Initialize runs, not when the library is loaded.
   */
  readonly env: { readonly SOFTHSM2_CONF: string };
  /** Initialises a token in the next free slot. Find it afterwards by label: SoftHSM renumbers the slot. */
  initToken(label: string, opts?: { pin?: string; soPin?: string }): Promise<SoftHsmToken>;
  /** Removes the folder and its tokens. */
  cleanup(): Promise<void>;
}

/** A throwaway SoftHSM: its own config and token folder, so tests never share or leak tokens. */
export async function createSoftHsm(opts: { dir?: string } = {}): Promise<SoftHsm> {
  if (firstExisting([SOFTHSM_LIBRARY]) === undefined) {
    throw new Error(
      `SoftHSM library not found (looked in ${SOFTHSM_CANDIDATES.join(', ')}); install it with 'apt-get install softhsm2'`,
    );
  }
  const parent = opts.dir ?? tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'byok-softhsm-'));
  const tokenDir = join(dir, 'tokens');
  await mkdir(tokenDir);
  const confPath = join(dir, 'softhsm2.conf');
  await writeFile(
    confPath,
    [
      '# Written by @byok/testkit for one test; removed by cleanup().',
      `directories.tokendir = ${tokenDir}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      '',
    ].join('\n'),
  );
  const env = { SOFTHSM2_CONF: confPath };

  return {
    dir,
    confPath,
    libraryPath: SOFTHSM_LIBRARY,
    env,
    async initToken(label, tokenOpts = {}) {
      const pin = tokenOpts.pin ?? DEFAULT_USER_PIN;
      const soPin = tokenOpts.soPin ?? DEFAULT_SO_PIN;
      const util = requireTool('softhsm2-util');
      const args = ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin];
      try {
        await execFileAsync(util, args, { env: { ...process.env, ...env } });
      } catch (err) {
        const detail = err instanceof Error && 'stderr' in err ? String(err.stderr).trim() : String(err);
        throw new Error(`softhsm2-util could not initialise token '${label}' in ${dir}: ${detail}`);
      }
      return { label, pin, soPin };
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
