import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSoftHsm, MissingToolError, requireTool, SOFTHSM_LIBRARY } from '../src/index.js';

const execFileAsync = promisify(execFile);

describe('createSoftHsm', () => {
  let parent: string;
  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'byok-softhsm-parent-'));
  });
  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('makes a private token folder, initialises tokens in it and removes it on cleanup', async () => {
    const hsm = await createSoftHsm({ dir: parent });
    expect(hsm.dir.startsWith(parent)).toBe(true);
    expect(hsm.libraryPath).toBe(SOFTHSM_LIBRARY);
    expect(existsSync(hsm.libraryPath)).toBe(true);
    expect(hsm.env).toEqual({ SOFTHSM2_CONF: hsm.confPath });
    const conf = await readFile(hsm.confPath, 'utf8');
    expect(conf).toContain(`directories.tokendir = ${join(hsm.dir, 'tokens')}`);

    const a = await hsm.initToken('alpha');
    expect(a).toEqual({ label: 'alpha', pin: '12345678', soPin: '87654321' });
    await hsm.initToken('beta', { pin: 'abcdefgh', soPin: 'so-secret' });

    const { stdout } = await execFileAsync(requireTool('softhsm2-util'), ['--show-slots'], {
      env: { ...process.env, ...hsm.env },
    });
    expect(stdout).toMatch(/Label:\s+alpha/);
    expect(stdout).toMatch(/Label:\s+beta/);

    // A token in one SoftHSM is invisible to another.
    const other = await createSoftHsm({ dir: parent });
    const { stdout: otherSlots } = await execFileAsync(requireTool('softhsm2-util'), ['--show-slots'], {
      env: { ...process.env, ...other.env },
    });
    expect(otherSlots).not.toMatch(/Label:\s+alpha/);

    await hsm.cleanup();
    await other.cleanup();
    expect(existsSync(hsm.dir)).toBe(false);
  });

  it('reports a failed token initialisation with softhsm2-util output', async () => {
    const hsm = await createSoftHsm({ dir: parent });
    try {
      await expect(hsm.initToken('short-pin', { pin: '12' })).rejects.toThrow(
        /could not initialise token 'short-pin'/,
      );
    } finally {
      await hsm.cleanup();
    }
  });
});

describe('requireTool', () => {
  it('finds tools on PATH and names the package of a missing one', () => {
    expect(requireTool('softhsm2-util')).toMatch(/\/softhsm2-util$/);
    expect(() => requireTool('no-such-tool-byok')).toThrow(MissingToolError);
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => requireTool('softhsm2-util')).toThrow(/apt-get install softhsm2/);
    } finally {
      process.env.PATH = saved;
    }
  });
});
