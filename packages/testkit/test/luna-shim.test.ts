import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import koffi from 'koffi';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildLunaShim,
  CKM_RSA_AES_KEY_WRAP,
  createSoftHsm,
  DEFAULT_LUNA_POLICIES,
  generateKekPair,
  LUNA_CKM_AES_KWP,
  lunaShimEnv,
  type SoftHsm,
  writeLunaPolicies,
} from '../src/index.js';
import {
  countObjects,
  createAesKey,
  findSlotByLabel,
  firstDerElement,
  generateRsaTarget,
  type Handle,
  importKek,
  kwpUnwrap,
  kwpWrap,
  openUserSession,
  rsaAesUnwrapForTest,
} from './p11-helpers.js';
import { rsaAesParams } from './rsa-aes-params.js';

const CKM_AES_KEY_WRAP_PAD = 0x210a;
const CKM_SHA256 = 0x250;
const CKG_MGF1_SHA256 = 2;
const CKR_ARGUMENTS_BAD = 0x7;
const CKR_SLOT_ID_INVALID = 0x3;
const CKR_MECHANISM_INVALID = 0x70;
const CKR_MECHANISM_PARAM_INVALID = 0x71;
const CKR_BUFFER_TOO_SMALL = 0x150;

/** Native memory for the size-query test; freed in afterAll. */
const nativeAllocations: unknown[] = [];

function pkcs11Code(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof pkcs11js.Pkcs11Error) return err.code;
    throw err;
  }
  return undefined;
}

describe('luna shim over SoftHSM', () => {
  let hsm: SoftHsm;
  let shimPath: string;
  let policyFile: string;
  let p11: pkcs11js.PKCS11;
  let slot: Handle;
  let session: Handle;
  const label = 'luna-shim-test';

  beforeAll(async () => {
    hsm = await createSoftHsm();
    const token = await hsm.initToken(label);
    shimPath = await buildLunaShim();
    policyFile = join(hsm.dir, 'policies.txt');
    // In-process: the environment must be in place before C_Initialize.
    Object.assign(process.env, hsm.env, lunaShimEnv({ policyFile }));
    p11 = new pkcs11js.PKCS11();
    p11.load(shimPath);
    p11.C_Initialize();
    slot = findSlotByLabel(p11, label);
    session = openUserSession(p11, slot, token.pin);
  });

  afterAll(async () => {
    if (p11 !== undefined) {
      p11.C_CloseAllSessions(slot);
      p11.C_Finalize();
    }
    for (const allocation of nativeAllocations) koffi.free(allocation);
    await hsm?.cleanup();
  });

  it('presents itself as a Luna and keeps the token label', () => {
    expect(p11.C_GetInfo().manufacturerID.trim()).toBe('Safenet, Inc.');
    const info = p11.C_GetTokenInfo(slot);
    expect(info.manufacturerID.trim()).toBe('Safenet, Inc.');
    expect(info.model.trim()).toBe('Luna K7');
    expect(info.label.trim()).toBe(label);
  });

  it("offers Luna's mechanism numbers and hides SoftHSM's 0x210A", () => {
    const mechanisms = p11.C_GetMechanismList(slot);
    expect(mechanisms).toContain(LUNA_CKM_AES_KWP);
    expect(mechanisms).toContain(CKM_RSA_AES_KEY_WRAP);
    expect(mechanisms).not.toContain(CKM_AES_KEY_WRAP_PAD);
    expect(mechanisms).toContain(pkcs11js.CKM_RSA_PKCS_OAEP);
    expect(new Set(mechanisms).size).toBe(mechanisms.length);

    const oneStep = p11.C_GetMechanismInfo(slot, CKM_RSA_AES_KEY_WRAP);
    expect(oneStep.flags & pkcs11js.CKF_WRAP).toBe(pkcs11js.CKF_WRAP);
    expect(oneStep.maxKeySize).toBeGreaterThanOrEqual(4096);
    const kwp = p11.C_GetMechanismInfo(slot, LUNA_CKM_AES_KWP);
    expect(kwp.flags & pkcs11js.CKF_WRAP).toBe(pkcs11js.CKF_WRAP);
    expect(pkcs11Code(() => p11.C_GetMechanismInfo(slot, CKM_AES_KEY_WRAP_PAD))).toBe(CKR_MECHANISM_INVALID);
  });

  it('wraps an RSA private key with CKM_RSA_AES_KEY_WRAP so that node:crypto recovers the same key', () => {
    const kek = generateKekPair(2048);
    const kekHandle = importKek(p11, session, kek.publicKey);
    const target = generateRsaTarget(p11, session, 'one-step-rsa');
    const before = countObjects(p11, session);

    const wrapped = p11.C_WrapKey(
      session,
      { mechanism: CKM_RSA_AES_KEY_WRAP, parameter: rsaAesParams(256) },
      kekHandle,
      target.priv,
      Buffer.alloc(8192),
    );

    expect(countObjects(p11, session)).toBe(before); // the ephemeral AES key is gone
    const pkcs8 = firstDerElement(rsaAesUnwrapForTest(kek.privateKey, wrapped, 'sha1'));
    const recovered = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
    const [modulus] = p11.C_GetAttributeValue(session, target.pub, [{ type: pkcs11js.CKA_MODULUS }]);
    const n = recovered.export({ format: 'jwk' }).n;
    expect(n).toBeDefined();
    expect(Buffer.from(n ?? '', 'base64url').equals(modulus?.value ?? Buffer.alloc(0))).toBe(true);
  });

  it('wraps an AES key one-step and the raw key comes back', () => {
    const kek = generateKekPair(3072);
    const kekHandle = importKek(p11, session, kek.publicKey);
    const value = randomBytes(32);
    const target = createAesKey(p11, session, value);
    const wrapped = p11.C_WrapKey(
      session,
      { mechanism: CKM_RSA_AES_KEY_WRAP, parameter: rsaAesParams(128) },
      kekHandle,
      target,
      Buffer.alloc(4096),
    );
    expect(wrapped.length).toBe(384 + 40);
    expect(rsaAesUnwrapForTest(kek.privateKey, wrapped, 'sha1').equals(value)).toBe(true);
  });

  it('refuses bad parameters and a too-small buffer, leaving no AES key behind', () => {
    const kek = generateKekPair(2048);
    const kekHandle = importKek(p11, session, kek.publicKey);
    const target = createAesKey(p11, session, randomBytes(32));
    const before = countObjects(p11, session);
    const wrap =
      (parameter: Buffer, out = Buffer.alloc(4096)) =>
      () =>
        p11.C_WrapKey(session, { mechanism: CKM_RSA_AES_KEY_WRAP, parameter }, kekHandle, target, out);

    expect(pkcs11Code(wrap(rsaAesParams(100)))).toBe(CKR_MECHANISM_PARAM_INVALID);
    expect(pkcs11Code(wrap(Buffer.alloc(8)))).toBe(CKR_MECHANISM_PARAM_INVALID);
    expect(pkcs11Code(wrap(rsaAesParams(256), Buffer.alloc(16)))).toBe(CKR_BUFFER_TOO_SMALL);
    // SoftHSM's OAEP is SHA-1 only: the shim passes its refusal through rather than inventing a result.
    expect(pkcs11Code(wrap(rsaAesParams(256, CKM_SHA256, CKG_MGF1_SHA256)))).toBe(CKR_ARGUMENTS_BAD);
    expect(countObjects(p11, session)).toBe(before);
  });

  it('answers the size query (pWrappedKey NULL) with the length the real call produces', () => {
    const kek = generateKekPair(2048);
    const kekHandle = importKek(p11, session, kek.publicKey);
    const target = generateRsaTarget(p11, session, 'size-query');
    const params = rsaAesParams(256);

    // pkcs11js always passes a buffer, so call the shim's C_WrapKey through its function list with koffi.
    const lib = koffi.load(shimPath);
    const getFunctionList = lib.func('unsigned long C_GetFunctionList(_Out_ void **list)');
    const listOut: unknown[] = [null];
    expect(getFunctionList(listOut)).toBe(0);
    const wrapKeyOffset = 8 + 60 * 8; // CK_VERSION (padded), then C_WrapKey is function number 60
    const wrapKeyPtr: unknown = koffi.decode(listOut[0], wrapKeyOffset, 'void *');
    const WrapKey = koffi.proto(
      'unsigned long TEST_CK_C_WrapKey(unsigned long, void *, unsigned long, unsigned long, void *, _Inout_ unsigned long *)',
    );
    const paramsMem: unknown = koffi.alloc('uint8_t', params.length);
    nativeAllocations.push(paramsMem);
    Buffer.from(koffi.view(paramsMem, params.length)).set(params);
    const mechanism = Buffer.alloc(24);
    mechanism.writeBigUInt64LE(BigInt(CKM_RSA_AES_KEY_WRAP), 0);
    mechanism.writeBigUInt64LE(koffi.address(paramsMem), 8);
    mechanism.writeBigUInt64LE(BigInt(params.length), 16);
    const handle = (h: Handle) => h.readBigUInt64LE(0);
    const sessionId = handle(session);

    const len = [0];
    expect(
      koffi.call(
        wrapKeyPtr,
        WrapKey,
        sessionId,
        mechanism,
        handle(kekHandle),
        handle(target.priv),
        null,
        len,
      ),
    ).toBe(0);
    const needed = len[0] ?? 0;
    const small = [needed - 1];
    const tooSmall: unknown = koffi.call(
      wrapKeyPtr,
      WrapKey,
      sessionId,
      mechanism,
      handle(kekHandle),
      handle(target.priv),
      Buffer.alloc(needed),
      small,
    );
    expect(tooSmall).toBe(CKR_BUFFER_TOO_SMALL);
    expect(small[0]).toBe(needed);

    const wrapped = p11.C_WrapKey(
      session,
      { mechanism: CKM_RSA_AES_KEY_WRAP, parameter: params },
      kekHandle,
      target.priv,
      Buffer.alloc(needed),
    );
    expect(wrapped.length).toBe(needed);
  });

  it("wraps and unwraps with Luna's KWP number 0x80000171 and refuses 0x210A", () => {
    const wrappingValue = randomBytes(32);
    const wrappingKey = createAesKey(p11, session, wrappingValue, { wrap: true });
    const targetValue = randomBytes(32);
    const target = createAesKey(p11, session, targetValue);

    const wrapped = p11.C_WrapKey(
      session,
      { mechanism: LUNA_CKM_AES_KWP },
      wrappingKey,
      target,
      Buffer.alloc(256),
    );
    expect(kwpUnwrap(wrappingValue, wrapped).equals(targetValue)).toBe(true);
    expect(
      pkcs11Code(() =>
        p11.C_WrapKey(session, { mechanism: CKM_AES_KEY_WRAP_PAD }, wrappingKey, target, Buffer.alloc(256)),
      ),
    ).toBe(CKR_MECHANISM_INVALID);

    const unwrapped = p11.C_UnwrapKey(
      session,
      { mechanism: LUNA_CKM_AES_KWP },
      wrappingKey,
      kwpWrap(wrappingValue, targetValue),
      [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_SENSITIVE, value: false },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      ],
    );
    const [value] = p11.C_GetAttributeValue(session, unwrapped, [{ type: pkcs11js.CKA_VALUE }]);
    expect(value?.value?.equals(targetValue)).toBe(true);
  });

  describe('CA_* partition policies', () => {
    let getContainer: koffi.KoffiFunction;
    let getPolicy: koffi.KoffiFunction;
    const slotId = () => slot.readBigUInt64LE(0);
    const policy = (id: number, container = 0): { rv: number; value: number } => {
      const out = [0];
      const rv: unknown = getPolicy(slotId(), container, id, out);
      return { rv: Number(rv), value: out[0] ?? -1 };
    };

    beforeAll(() => {
      const lib = koffi.load(shimPath);
      getContainer = lib.func(
        'unsigned long CA_GetUserContainerNumber(unsigned long slot, _Out_ unsigned long *n)',
      );
      getPolicy = lib.func(
        'unsigned long CA_GetContainerPolicySetting(unsigned long slot, unsigned long c, unsigned long id, _Out_ unsigned long *v)',
      );
    });

    it('gives container 0 and refuses slots the token does not have', () => {
      const out = [99];
      expect(getContainer(slotId(), out)).toBe(0);
      expect(out[0]).toBe(0);
      expect(getContainer(123_456_789, out)).toBe(CKR_SLOT_ID_INVALID);
    });

    it('answers the export-ready defaults when there is no policy file', async () => {
      await rm(policyFile, { force: true });
      expect(policy(0)).toEqual({ rv: 0, value: 0 });
      expect(policy(1)).toEqual({ rv: 0, value: 1 });
      expect(policy(5)).toEqual({ rv: 0, value: 1 });
      expect(policy(10)).toEqual({ rv: 0, value: 1 });
      expect(policy(34)).toEqual({ rv: 0, value: 1 });
      expect(policy(22)).toEqual({ rv: 0, value: 0 });
    });

    it('re-reads the policy file on every call', async () => {
      await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, 1: 1 });
      expect(policy(1)).toEqual({ rv: 0, value: 1 });
      await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, 0: 1, 1: 0 });
      expect(policy(1)).toEqual({ rv: 0, value: 0 });
      expect(policy(0)).toEqual({ rv: 0, value: 1 });
      // The file is the whole truth: an id it does not list is an error, not a default.
      expect(policy(22).rv).toBe(CKR_ARGUMENTS_BAD);
      expect(policy(1, 7).rv).toBe(CKR_ARGUMENTS_BAD);
    });
  });
});
