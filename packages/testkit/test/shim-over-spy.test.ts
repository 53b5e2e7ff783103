import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  analyseSpyLog,
  buildLunaShim,
  CKM_RSA_AES_KEY_WRAP,
  createSoftHsm,
  generateKekPair,
  lunaShimEnv,
  type SoftHsm,
  spyEnv,
  spyLibraryPath,
} from '../src/index.js';
import { createAesKey, findSlotByLabel, importKek, openUserSession } from './p11-helpers.js';
import { rsaAesParams } from './rsa-aes-params.js';

// The HSM's view: pkcs11-spy between the shim and SoftHSM logs what the shim does to build 0x1054.
let hsm: SoftHsm;
let logFile: string;

beforeAll(async () => {
  hsm = await createSoftHsm();
  await hsm.initToken('inner');
  logFile = join(hsm.dir, 'spy.log');
  Object.assign(
    process.env,
    hsm.env,
    lunaShimEnv({ target: spyLibraryPath(), policyFile: join(hsm.dir, 'none') }),
    spyEnv(hsm.libraryPath, logFile),
  );
});

afterAll(async () => {
  await hsm?.cleanup();
});

it('the one-step wrap destroys its ephemeral AES key on success and on failure', async () => {
  const p11 = new pkcs11js.PKCS11();
  p11.load(await buildLunaShim());
  p11.C_Initialize();
  try {
    const session = openUserSession(p11, findSlotByLabel(p11, 'inner'), '12345678');
    const kekHandle = importKek(p11, session, generateKekPair().publicKey);
    const target = createAesKey(p11, session, randomBytes(32));
    const unextractable = createAesKey(p11, session, randomBytes(32), { extractable: false });
    const wrap = (key: Buffer) =>
      p11.C_WrapKey(
        session,
        { mechanism: CKM_RSA_AES_KEY_WRAP, parameter: rsaAesParams(256) },
        kekHandle,
        key,
        Buffer.alloc(4096),
      );
    expect(wrap(target).length).toBe(256 + 40);
    expect(() => wrap(unextractable)).toThrow(/CKR_KEY_UNEXTRACTABLE/);
    for (const handle of [kekHandle, target, unextractable]) p11.C_DestroyObject(session, handle);
    p11.C_CloseSession(session);
  } finally {
    p11.C_Finalize();
  }

  const analysis = analyseSpyLog(await readFile(logFile, 'utf8'));
  const generated = analysis.parsedCalls.filter((c) => c.name === 'C_GenerateKey');
  expect(generated).toHaveLength(2);
  for (const call of generated) {
    expect(call.lines.join('\n')).toMatch(/CKA_TOKEN\s+False/);
    expect(call.lines.join('\n')).toMatch(/CKA_SENSITIVE\s+True/);
  }
  expect(analysis.sessionObjectsCreated).toBe(5); // KEK, two targets, two ephemeral AES keys
  expect(analysis.sessionObjectsLeft).toBe(0);
  expect(analysis.sensitiveReads).toEqual([]);
  expect(analysis.mechanisms.map((m) => m.mechanism)).not.toContain('0x80000171');
});
