import { createPublicKey } from 'node:crypto';
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
  ProofError,
  proveWrappedKey,
  type SoftHsm,
  spyEnv,
  spyLibraryPath,
} from '../src/index.js';
import { findSlotByLabel, generateRsaTarget, importKek, openUserSession } from './p11-helpers.js';
import { rsaAesParams } from './rsa-aes-params.js';

// The application's view: pkcs11-spy in front of the shim logs what the caller asks of the "Luna".
let hsm: SoftHsm;
let logFile: string;

beforeAll(async () => {
  hsm = await createSoftHsm();
  await hsm.initToken('spied');
  logFile = join(hsm.dir, 'spy.log');
  const shim = await buildLunaShim();
  Object.assign(
    process.env,
    hsm.env,
    lunaShimEnv({ policyFile: join(hsm.dir, 'none') }),
    spyEnv(shim, logFile),
  );
});

afterAll(async () => {
  await hsm?.cleanup();
});

it('sees one C_WrapKey with 0x1054, no key material read, and a leftover session object when the caller forgets one', async () => {
  const p11 = new pkcs11js.PKCS11();
  p11.load(spyLibraryPath());
  p11.C_Initialize();
  const kek = generateKekPair();
  try {
    const slot = findSlotByLabel(p11, 'spied');
    const session = openUserSession(p11, slot, '12345678');
    const kekHandle = importKek(p11, session, kek.publicKey);
    const target = generateRsaTarget(p11, session, 'spied-target');
    const wrapped = p11.C_WrapKey(
      session,
      { mechanism: CKM_RSA_AES_KEY_WRAP, parameter: rsaAesParams(256) },
      kekHandle,
      target.priv,
      Buffer.alloc(4096),
    );
    const [modulus] = p11.C_GetAttributeValue(session, target.pub, [{ type: pkcs11js.CKA_MODULUS }]);
    const hsmPublic = createPublicKey({
      key: { kty: 'RSA', n: modulus?.value?.toString('base64url') ?? '', e: 'AQAB' },
      format: 'jwk',
    });
    const material = proveWrappedKey(wrapped, kek.privateKey, {
      oaepHash: 'sha1',
      spec: 'rsa',
      expectedPublicKey: hsmPublic,
    });
    expect(material.kind).toBe('rsa');
    expect(() =>
      proveWrappedKey(wrapped, kek.privateKey, {
        oaepHash: 'sha1',
        spec: 'rsa',
        expectedPublicKey: generateKekPair().publicKey,
      }),
    ).toThrow(ProofError);
    p11.C_DestroyObject(session, kekHandle);
    p11.C_DestroyObject(session, target.pub);
    // target.priv is deliberately left behind.
    p11.C_CloseSession(session);
  } finally {
    p11.C_Finalize();
  }

  const analysis = analyseSpyLog(await readFile(logFile, 'utf8'));
  expect(analysis.calls).toContain('C_WrapKey');
  // The shim's inner C_GenerateKey for the ephemeral AES key is invisible from here: one C_WrapKey only.
  expect(analysis.calls.filter((c) => c === 'C_WrapKey')).toHaveLength(1);
  expect(analysis.mechanisms.filter((m) => m.call === 'C_WrapKey').map((m) => m.mechanism)).toHaveLength(1);
  expect(analysis.sensitiveReads).toEqual([]);
  expect(analysis.sessionObjectsCreated).toBe(3);
  expect(analysis.sessionObjectsLeft).toBe(1);
  expect(analysis.sessionObjectsLeftDetails[0]).toMatch(/C_GenerateKeyPair/);
});
