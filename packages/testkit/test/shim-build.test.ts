import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import koffi from 'koffi';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildLunaShim } from '../src/index.js';
import { compileLunaShim } from '../src/shim.js';

let cache: string;
beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'byok-shim-cache-'));
});
afterAll(async () => {
  await rm(cache, { recursive: true, force: true });
});

it('builds once per source version, even when builds race', async () => {
  const [a, b, c] = await Promise.all([
    compileLunaShim(cache),
    compileLunaShim(cache),
    compileLunaShim(cache),
  ]);
  expect(b).toBe(a);
  expect(c).toBe(a);
  // No temp files left next to the library, and it loads and exports what the Luna code looks for.
  expect(await readdir(dirname(a ?? ''))).toEqual(['libluna-shim.so']);
  const lib = koffi.load(a ?? '');
  for (const symbol of ['C_GetFunctionList', 'CA_GetUserContainerNumber', 'CA_GetContainerPolicySetting']) {
    expect(() => lib.func(`unsigned long ${symbol}(void *)`)).not.toThrow();
  }
  expect(() => lib.func('unsigned long luna_shim_private(void *)')).toThrow();
  lib.unload();
});

it('buildLunaShim caches under the repository node_modules/.cache', async () => {
  const path = await buildLunaShim();
  expect(path).toMatch(/node_modules\/\.cache\/byok-luna-shim\/[0-9a-f]{16}\/libluna-shim\.so$/);
  expect(await buildLunaShim()).toBe(path);
});
