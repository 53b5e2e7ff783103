/**
 * The launcher's V8 compile cache (bin/hsmbyok.cjs): written after a successful run, used by the next,
 * private to the user, and harmless when missing, corrupt or not trustworthy.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, OPTION, PIN_ARGS, runHsmbyok } from './helpers.js';

let fx: Fixture;

beforeAll(async () => {
  fx = await createFixture();
});

afterAll(async () => {
  await fx?.cleanup();
});

/** A wrap with its own cache home; returns the DEBUG lines about the cache. */
async function wrap(cacheHome: string, extraEnv: Record<string, string> = {}): Promise<string[]> {
  const cwd = await fx.workdir({
    targetKeyFlags: 'CKF_EXTRACTABLE, CKF_TOKEN, CKF_SIGN, CKF_CREATE_IF_NOT_FOUND',
  });
  const r = await runHsmbyok([OPTION, ...PIN_ARGS], {
    cwd,
    env: { ...fx.env, XDG_CACHE_HOME: cacheHome, HSMBYOK_DEBUG: '1', ...extraEnv },
  });
  expect(r.stdout).toContain('INFO: overall success');
  expect(r.exitCode).toBe(0);
  return r.stderr.split('\n').filter((line) => line.startsWith('DEBUG: compile cache'));
}

function cacheFiles(cacheHome: string): string[] {
  const dir = join(cacheHome, 'hsmbyok');
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('compile cache', () => {
  it('is written by the first run, private to the user, and used by the next', async () => {
    const home = mkdtempSync(join(fx.softhsm.dir, 'cache-'));
    expect(await wrap(home)).toEqual([expect.stringMatching(/: wrote .*cli-wrap-.*\.v8cache$/)]);
    const [file] = cacheFiles(home);
    expect(file).toMatch(/^cli-wrap-/);
    expect(statSync(join(home, 'hsmbyok')).mode & 0o777).toBe(0o700);
    expect(statSync(join(home, 'hsmbyok', file as string)).mode & 0o777).toBe(0o600);
    expect(await wrap(home)).toEqual([expect.stringMatching(/: hit /)]);
    expect(cacheFiles(home)).toEqual([file]);
  });

  it('survives a corrupt cache file: rejected, run normally, replaced', async () => {
    const home = mkdtempSync(join(fx.softhsm.dir, 'cache-'));
    await wrap(home);
    const [file] = cacheFiles(home);
    const path = join(home, 'hsmbyok', file as string);
    writeFileSync(path, Buffer.alloc(statSync(path).size, 0x41), { mode: 0o600 });
    const lines = await wrap(home);
    expect(lines[0]).toMatch(/: rejected /);
    expect(lines[1]).toMatch(/: wrote /);
    expect(await wrap(home)).toEqual([expect.stringMatching(/: hit /)]);
  });

  it('ignores a cache folder others can write, and does not write into it', async () => {
    const home = mkdtempSync(join(fx.softhsm.dir, 'cache-'));
    await wrap(home);
    chmodSync(join(home, 'hsmbyok'), 0o777);
    const lines = await wrap(home);
    expect(lines).toEqual([expect.stringMatching(/is not private to this user: not written$/)]);
  });

  it('ignores a cache file others can write', async () => {
    const home = mkdtempSync(join(fx.softhsm.dir, 'cache-'));
    await wrap(home);
    const [file] = cacheFiles(home);
    chmodSync(join(home, 'hsmbyok', file as string), 0o666);
    expect((await wrap(home))[0]).toMatch(/: wrote /); // not read: compiled afresh and replaced
    expect(statSync(join(home, 'hsmbyok', cacheFiles(home)[0] as string)).mode & 0o777).toBe(0o600);
  });

  it('is off with HSMBYOK_COMPILE_CACHE=0, and not kept for --help', async () => {
    const home = mkdtempSync(join(fx.softhsm.dir, 'cache-'));
    expect(await wrap(home, { HSMBYOK_COMPILE_CACHE: '0' })).toEqual([]);
    const help = await runHsmbyok(['--help'], {
      cwd: home,
      env: { XDG_CACHE_HOME: home, HSMBYOK_DEBUG: '1' },
    });
    expect(help.exitCode).toBe(0);
    expect(cacheFiles(home)).toEqual([]);
  });
});
