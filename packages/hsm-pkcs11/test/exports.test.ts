/**
 * mayExportSymbol decides whether koffi is loaded to bind Luna's CA_* functions: "no" must be certain,
 * everything unclear must be "maybe".
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLunaShim, createSoftHsm, SOFTHSM_LIBRARY } from '@byok/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mayExportSymbol } from '../src/exports.js';
import { LUNA_PROBE_SYMBOL } from '../src/luna.js';
import { Pkcs11Module } from '../src/module.js';

let dir: string;
let softhsm: string;
let shim: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'byok-exports-'));
  softhsm = SOFTHSM_LIBRARY;
  shim = await buildLunaShim();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mayExportSymbol', () => {
  it('is certain SoftHSM has no CA_* functions, and finds its C_GetFunctionList', () => {
    expect(mayExportSymbol(softhsm, LUNA_PROBE_SYMBOL)).toBe(false);
    expect(mayExportSymbol(softhsm, 'C_GetFunctionList')).toBe(true);
  });

  it('finds the CA_* functions the Luna shim exports', () => {
    expect(mayExportSymbol(shim, LUNA_PROBE_SYMBOL)).toBe(true);
    expect(mayExportSymbol(shim, 'CA_GetUserContainerNumber')).toBe(true);
  });

  it('does not match a symbol that only starts with the name', () => {
    expect(mayExportSymbol(softhsm, 'C_GetFunction')).toBe(false);
  });

  it('answers "maybe" for what it cannot read', () => {
    expect(mayExportSymbol('libsofthsm2.so', LUNA_PROBE_SYMBOL)).toBe(true); // loader search path
    expect(mayExportSymbol(join(dir, 'absent.so'), LUNA_PROBE_SYMBOL)).toBe(true);
    const text = join(dir, 'not-elf.so');
    writeFileSync(text, 'MZ this is no ELF file'.padEnd(128, '.'));
    expect(mayExportSymbol(text, LUNA_PROBE_SYMBOL)).toBe(true);
    const truncated = join(dir, 'truncated.so');
    writeFileSync(truncated, readFileSync(softhsm).subarray(0, 4096));
    expect(mayExportSymbol(truncated, LUNA_PROBE_SYMBOL)).toBe(true);
    const headerOnly = join(dir, 'header-only.so');
    writeFileSync(headerOnly, readFileSync(softhsm).subarray(0, 20));
    expect(mayExportSymbol(headerOnly, LUNA_PROBE_SYMBOL)).toBe(true);
  });
});

describe('Pkcs11Module.luna on SoftHSM', () => {
  it('is absent, and koffi is never loaded to find that out', async () => {
    const hsm = await createSoftHsm();
    Object.assign(process.env, hsm.env);
    const module = Pkcs11Module.load(softhsm);
    try {
      expect(module.luna).toBeUndefined();
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      expect(loaded.some((file) => file.includes('/pkcs11js/'))).toBe(true);
      expect(loaded.some((file) => file.includes('/koffi/'))).toBe(false);
    } finally {
      module.close();
      await hsm.cleanup();
    }
  });
});
