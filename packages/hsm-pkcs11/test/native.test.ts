/**
 * Our binding of pkcs11js's addon (src/native.ts) against pkcs11js's own index.js, on one SoftHSM library
 * loaded once in this process: both classes drive the same addon, so handles from one are valid in the other
 * and the same call can be made through each.
 */
import { createSoftHsm, type SoftHsm } from '@byok/testkit';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ckrOf, toByokError } from '../src/errors.js';
import { loadPkcs11js, PKCS11_FUNCTIONS, type Pkcs11Api } from '../src/native.js';

const attr = (type: number, value?: unknown): pkcs11js.Attribute =>
  (value === undefined ? { type } : { type, value }) as pkcs11js.Attribute;

let hsm: SoftHsm;
let ours: Pkcs11Api;
let theirs: pkcs11js.PKCS11;
let session: Buffer;
let pin: string;

beforeAll(async () => {
  hsm = await createSoftHsm();
  const token = await hsm.initToken('native');
  pin = token.pin;
  process.env.SOFTHSM2_CONF = hsm.env.SOFTHSM2_CONF;
  ours = new (loadPkcs11js().PKCS11)();
  ours.load(hsm.libraryPath);
  ours.C_Initialize();
  theirs = new pkcs11js.PKCS11();
  theirs.load(hsm.libraryPath);
  const slot = ours.C_GetSlotList(true).find((s) => ours.C_GetTokenInfo(s).label.trim() === 'native');
  if (!slot) throw new Error('token not found');
  session = ours.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
});

afterAll(async () => {
  ours?.C_Finalize();
  await hsm?.cleanup();
});

/** The error a call throws, or a failure of the test when it does not throw. */
function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('pkcs11js addon binding', () => {
  it("binds every function the package calls (Pkcs11Api), and offers the addon's constants", () => {
    const binding = loadPkcs11js().PKCS11.prototype as unknown as Record<string, unknown>;
    expect(PKCS11_FUNCTIONS.length).toBeGreaterThan(20);
    for (const name of PKCS11_FUNCTIONS) {
      expect(Object.hasOwn(binding, name), name).toBe(true);
      expect(typeof (pkcs11js.PKCS11.prototype as unknown as Record<string, unknown>)[name], name).toBe(
        'function',
      );
    }
    const addon = loadPkcs11js() as unknown as Record<string, unknown>;
    const constants = Object.entries(pkcs11js).filter(([, value]) => typeof value === 'number');
    expect(constants.length).toBeGreaterThan(500);
    for (const [name, value] of constants) expect(addon[name], name).toBe(value);
  });

  it('throws what pkcs11js throws for a CKR: same name, code and method', () => {
    const mine = thrown(() => ours.C_Login(session, pkcs11js.CKU_USER, 'wrong-pin-1'));
    const reference = thrown(() => theirs.C_Login(session, pkcs11js.CKU_USER, 'wrong-pin-2'));
    expect(ckrOf(mine)).toBe(0xa0);
    expect(ckrOf(reference)).toBe(0xa0);
    expect(mine).toMatchObject({
      name: 'Pkcs11Error',
      code: 0xa0,
      method: 'C_Login',
      message: 'CKR_PIN_INCORRECT',
    });
    expect((reference as Error).message).toBe('CKR_PIN_INCORRECT');
    expect(toByokError(mine, 'C_Login').describe()).toBe(toByokError(reference, 'C_Login').describe());
  });

  it('passes argument errors through unchanged', () => {
    const mine = thrown(() => (ours.C_Login as (...args: unknown[]) => unknown)(session));
    expect(mine).toBeInstanceOf(TypeError);
    expect(ckrOf(mine)).toBeUndefined();
  });

  it('returns the filled part of output buffers, byte for byte what pkcs11js returns', () => {
    ours.C_Login(session, pkcs11js.CKU_USER, pin);
    const aes = (bytes: number, wrap: boolean) =>
      ours.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        attr(pkcs11js.CKA_TOKEN, false),
        attr(pkcs11js.CKA_VALUE_LEN, bytes),
        attr(pkcs11js.CKA_EXTRACTABLE, true),
        attr(pkcs11js.CKA_WRAP, wrap),
        attr(pkcs11js.CKA_ENCRYPT, true),
      ]);
    const kek = aes(32, true);
    const target = aes(16, false);
    // RFC 5649 is deterministic: the same key under the same KEK gives the same bytes through either class.
    const kwp = { mechanism: 0x210a };
    const mine = ours.C_WrapKey(session, kwp, kek, target, Buffer.alloc(4096));
    const reference = theirs.C_WrapKey(session, kwp, kek, target, Buffer.alloc(4096));
    expect(mine.length).toBe(24);
    expect(mine.equals(reference)).toBe(true);

    ours.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, target);
    const block = ours.C_Encrypt(session, Buffer.alloc(16, 7), Buffer.alloc(64));
    theirs.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, target);
    expect(block.equals(theirs.C_Encrypt(session, Buffer.alloc(16, 7), Buffer.alloc(64)))).toBe(true);
    expect(block.length).toBe(16);
  });

  it('finds objects with and without a count, as pkcs11js does', () => {
    const template = [attr(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY)];
    ours.C_FindObjectsInit(session, template);
    const all = ours.C_FindObjects(session, 10);
    ours.C_FindObjectsFinal(session);
    expect(all.length).toBe(2);
    ours.C_FindObjectsInit(session, template);
    expect(ours.C_FindObjects(session)?.equals(all[0] as Buffer)).toBe(true);
    ours.C_FindObjectsFinal(session);
    ours.C_FindObjectsInit(session, [attr(pkcs11js.CKA_LABEL, 'nothing has this label')]);
    expect(ours.C_FindObjects(session)).toBeNull();
    ours.C_FindObjectsFinal(session);
  });
});
