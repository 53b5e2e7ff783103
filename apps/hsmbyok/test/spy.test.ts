/**
 * Under OpenSC's pkcs11-spy (logging every PKCS#11 call between hsmbyok and SoftHSM): a full run never
 * reads key material (CKA_VALUE, private RSA components) and leaves no session object behind.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyseSpyLog, spyEnv, spyLibraryPath } from '@byok/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, OPTION, PIN_ARGS, runHsmbyok } from './helpers.js';

let fx: Fixture;
let logFile: string;
beforeAll(async () => {
  const spy = spyLibraryPath();
  const base = await createFixture({ libraryName: spy });
  logFile = join(base.softhsm.dir, 'spy.log');
  fx = { ...base, env: { ...base.env, ...spyEnv(base.softhsm.libraryPath, logFile) } };
});
afterAll(async () => {
  await fx?.cleanup();
});

describe('pkcs11-spy', () => {
  for (const [name, spec] of [
    ['rsa', 'CKK_RSA, 2048, none'],
    ['ec', 'CKK_EC, 256, "P-256"'],
    ['aes', 'CKK_AES, 256, none'],
  ] as const) {
    it(`${name}: generate + wrap, then wrap the existing key: no key material read, no session object left`, async () => {
      const { rm } = await import('node:fs/promises');
      await rm(logFile, { force: true });
      const dir = await fx.workdir({ targetKeyName: `spy-${name}`, targetKeySpec: spec });
      const generated = await runHsmbyok([OPTION, ...PIN_ARGS], { cwd: dir, env: fx.env });
      expect(generated.exitCode, generated.stdout).toBe(0);
      const existing = await runHsmbyok([OPTION, ...PIN_ARGS], { cwd: dir, env: fx.env });
      expect(existing.exitCode, existing.stdout).toBe(0);

      const analysis = analyseSpyLog(readFileSync(logFile, 'utf8'));
      // The log is real: both runs logged in, generated once and wrapped twice (OAEP + RFC 5649 each time).
      expect(analysis.calls.filter((c) => c === 'C_Login')).toHaveLength(2);
      expect(analysis.calls.filter((c) => c === 'C_WrapKey').length).toBeGreaterThanOrEqual(4);
      expect(analysis.calls).toContain(name === 'aes' ? 'C_GenerateKey' : 'C_GenerateKeyPair');
      expect(analysis.sensitiveReads).toEqual([]);
      expect(analysis.sessionObjectsCreated).toBeGreaterThanOrEqual(4); // 2 KEKs + 2 ephemeral AES keys
      expect(analysis.sessionObjectsLeftDetails).toEqual([]);
      expect(analysis.sessionObjectsLeft).toBe(0);
      expect(analysis.calls.filter((c) => c === 'C_Logout')).toHaveLength(2);
      expect(analysis.calls.at(-1)).toBe('C_Finalize');
    });
  }
});
