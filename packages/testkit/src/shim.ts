import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SOFTHSM_LIBRARY } from './softhsm.js';
import { requireTool } from './tools.js';

const execFileAsync = promisify(execFile);

const SHIM_DIR = fileURLToPath(new URL('../shim/', import.meta.url));
const SOURCES = ['luna-shim.c', 'p11-min.h'] as const;
const GCC_FLAGS = ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-fvisibility=hidden'] as const;
const LIBRARY_NAME = 'libluna-shim.so';

/** Luna's vendor number for RFC 5649 (CKM_VENDOR_DEFINED | 0x171), offered by the shim instead of 0x210A. */
export const LUNA_CKM_AES_KWP = 0x80000171;
export const CKM_RSA_AES_KEY_WRAP = 0x1054;

/** The monorepo root (holds pnpm-workspace.yaml), or this package when used outside the monorepo. */
function cacheRoot(): string {
  const packageDir = dirname(SHIM_DIR.replace(/\/$/, ''));
  let dir = packageDir;
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return packageDir;
    dir = parent;
  }
}

/** Compiles into `<cacheDir>/<source hash>/libluna-shim.so` unless it is already there. Not memoised. */
export async function compileLunaShim(cacheDir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const name of SOURCES) {
    hash
      .update(name)
      .update('\0')
      .update(await readFile(join(SHIM_DIR, name)))
      .update('\0');
  }
  hash.update(GCC_FLAGS.join(' '));
  const outDir = join(cacheDir, hash.digest('hex').slice(0, 16));
  const target = join(outDir, LIBRARY_NAME);
  if (existsSync(target)) return target;

  const gcc = requireTool('gcc');
  await mkdir(outDir, { recursive: true });
  // Another test process may be compiling the same source: each writes its own file and renames it into
  // place, which is atomic, so a reader never sees a half-written library.
  const temp = join(outDir, `.${LIBRARY_NAME}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await execFileAsync(gcc, [...GCC_FLAGS, '-o', temp, join(SHIM_DIR, 'luna-shim.c'), '-ldl', '-lpthread']);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    const detail = err instanceof Error && 'stderr' in err ? String(err.stderr).trim() : String(err);
    throw new Error(`could not compile the Luna test shim (${join(SHIM_DIR, 'luna-shim.c')}): ${detail}`);
  }
  return target;
}

let building: Promise<string> | undefined;

/**
 * Compiles the test-only Luna PKCS#11 shim (once per source version, cached under
 * `<repo>/node_modules/.cache/byok-luna-shim/`, or under env BYOK_LUNA_SHIM_CACHE) and returns the path
 * of the shared library.
 */
export function buildLunaShim(): Promise<string> {
  if (building === undefined) {
    const cacheDir =
      process.env.BYOK_LUNA_SHIM_CACHE || join(cacheRoot(), 'node_modules', '.cache', 'byok-luna-shim');
    building = compileLunaShim(cacheDir);
    building.catch(() => {
      building = undefined; // let a later call retry, e.g. after gcc was installed
    });
  }
  return building;
}

/**
 * Environment for a process (or this one, before the first C_Initialize) that loads the shim.
 * `target` is the module the shim forwards to (SoftHSM by default); `policyFile` holds the partition
 * policies answered by CA_GetContainerPolicySetting. SoftHSM's own SOFTHSM2_CONF must be set as well.
 */
export function lunaShimEnv(opts: { target?: string; policyFile: string }): Record<string, string> {
  return { LUNA_SHIM_TARGET: opts.target ?? SOFTHSM_LIBRARY, LUNA_SHIM_POLICY_FILE: opts.policyFile };
}

/** Luna partition policy ids (see DESIGN 3.7), for readable tests. */
export const LunaPolicy = {
  privateKeyCloning: 0,
  privateKeyWrapping: 1,
  privateKeyUnwrapping: 2,
  secretKeyCloning: 4,
  secretKeyWrapping: 5,
  secretKeyUnwrapping: 6,
  multipurposeKeys: 10,
  changeKeyAttributes: 11,
  activation: 22,
  autoActivation: 23,
  rsaPkcsMechanism: 33,
  cbcPadWrapAnySize: 34,
} as const;

/** The policies the shim answers when no policy file exists: a partition set up for key export. */
export const DEFAULT_LUNA_POLICIES: Readonly<Record<number, number>> = { 0: 0, 1: 1, 5: 1, 10: 1, 34: 1 };

/**
 * Writes a policy file for the shim. The shim re-reads it on every call, so rewriting it changes the
 * answers of a module that is already loaded. Ids not listed make CA_GetContainerPolicySetting fail with
 * CKR_ARGUMENTS_BAD; spread DEFAULT_LUNA_POLICIES first to change only a few.
 */
export async function writeLunaPolicies(file: string, policies: Record<number, number>): Promise<void> {
  const lines = ['# Luna partition policies for the byok test shim: id=value'];
  for (const [id, value] of Object.entries(policies)) {
    if (!/^\d+$/.test(id) || !Number.isInteger(value) || value < 0) {
      throw new Error(`invalid Luna policy ${id}=${value}: ids and values are non-negative integers`);
    }
    lines.push(`${id}=${value}`);
  }
  // Rename into place so a shim reading concurrently sees the old file or the new one, never half of one.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temp, `${lines.join('\n')}\n`);
  await rename(temp, file);
}
