import { createDecipheriv, randomBytes } from 'node:crypto';
import { ByokError, type KeySpec, parseKekPem, type WrapMethod } from '@byok/core';
import { generateKekPair, type KekPair, proveWrappedKey } from '@byok/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKF_MECH, CKM } from '../src/constants.js';
import { assertPolicies, checkWrapPolicies } from '../src/policy.js';
import type { HsmSession } from '../src/session.js';
import type { KekHandle, MechanismInfo, WrapPlan } from '../src/types.js';
import { planWrap } from '../src/wrap.js';
import {
  AES_256,
  EXPORTABLE,
  ecSpec,
  flags,
  RSA_2048,
  type SoftHsmFixture,
  softHsmFixture,
} from './helpers.js';

const TWO_STEP: WrapMethod = { kind: 'two-step', oaepHash: 'sha1', kwpName: 'CKM_AES_KWP' };
const ONE_STEP: WrapMethod = { kind: 'one-step', oaepHash: 'sha1' };

function caught(fn: () => unknown): ByokError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ByokError) return err;
    throw err;
  }
  throw new Error('expected a ByokError, nothing was thrown');
}

function mechs(entries: [number, number][]): Map<number, MechanismInfo> {
  return new Map(entries.map(([type, flags]) => [type, { type, flags, minKeySize: 0, maxKeySize: 0 }]));
}
const WRAP = CKF_MECH.CKF_WRAP;

describe('planWrap (pure)', () => {
  it('one-step needs CKM_RSA_AES_KEY_WRAP with CKF_WRAP', () => {
    const err = caught(() =>
      planWrap(mechs([[CKM.CKM_RSA_AES_KEY_WRAP, CKF_MECH.CKF_ENCRYPT]]), ONE_STEP, RSA_2048),
    );
    expect(err.code).toBe('CKR_MECHANISM_INVALID');
    expect(err.message).toBe(
      'this module has no CKM_RSA_AES_KEY_WRAP; list CKM_AES_KWP in wrappingCiphers to wrap in two steps',
    );
    const plan = planWrap(mechs([[CKM.CKM_RSA_AES_KEY_WRAP, WRAP]]), ONE_STEP, RSA_2048, {
      manufacturer: 'x',
    });
    expect(plan).toMatchObject({ kind: 'one-step', oneStepMechanism: 0x1054, oaepHash: 'sha1' });
    expect(plan.description).toContain('CKM_RSA_AES_KEY_WRAP (0x00001054)');
  });

  it('two-step probes Luna KWP, then 0x210B, then 0x210A on SoftHSM only', () => {
    const all = mechs([
      [CKM.CKM_RSA_PKCS_OAEP, WRAP],
      [CKM.CKM_LUNA_AES_KWP, WRAP],
      [CKM.CKM_AES_KEY_WRAP_KWP, WRAP],
      [CKM.CKM_AES_KEY_WRAP_PAD, WRAP],
    ]);
    expect(planWrap(all, TWO_STEP, AES_256, { manufacturer: 'Safenet, Inc.' }).kwpMechanism).toBe(0x80000171);
    all.delete(CKM.CKM_LUNA_AES_KWP);
    expect(planWrap(all, TWO_STEP, AES_256, { manufacturer: 'SoftHSM' }).kwpMechanism).toBe(0x210b);
    all.delete(CKM.CKM_AES_KEY_WRAP_KWP);
    const soft = planWrap(all, TWO_STEP, AES_256, { manufacturer: 'SoftHSM' });
    expect(soft.kwpMechanism).toBe(0x210a);
    expect(soft.description).toContain('CKM_AES_KEY_WRAP_PAD (0x0000210A) as RFC 5649');
    // 0x210A from anyone else is PKCS#11 v3.0's PKCS#7-padded wrap: not RFC 5649.
    const other = caught(() => planWrap(all, TWO_STEP, AES_256, { manufacturer: 'Acme HSM' }));
    expect(other.code).toBe('CKR_MECHANISM_INVALID');
    expect(other.message).toContain('no RFC 5649 key wrap');
  });

  it('two-step needs CKM_RSA_PKCS_OAEP with CKF_WRAP', () => {
    const err = caught(() =>
      planWrap(mechs([[CKM.CKM_AES_KEY_WRAP_KWP, WRAP]]), TWO_STEP, AES_256, { manufacturer: 'x' }),
    );
    expect(err.code).toBe('CKR_MECHANISM_INVALID');
    expect(err.message).toContain('CKM_RSA_PKCS_OAEP');
  });

  it('refuses OAEP SHA-256 on SoftHSM up front instead of falling back', () => {
    const all = mechs([
      [CKM.CKM_RSA_PKCS_OAEP, WRAP],
      [CKM.CKM_AES_KEY_WRAP_PAD, WRAP],
    ]);
    const method: WrapMethod = { ...TWO_STEP, oaepHash: 'sha256' };
    const err = caught(() => planWrap(all, method, RSA_2048, { manufacturer: 'SoftHSM' }));
    expect(err.code).toBe('CKR_MECHANISM_PARAM_INVALID');
    expect(err.message).toMatch(/^SoftHSM supports OAEP with SHA-1 only; list CKG_MGF1_SHA1/);
    all.set(CKM.CKM_AES_KEY_WRAP_KWP, {
      type: CKM.CKM_AES_KEY_WRAP_KWP,
      flags: WRAP,
      minKeySize: 0,
      maxKeySize: 0,
    });
    expect(planWrap(all, method, RSA_2048, { manufacturer: 'Acme HSM' }).oaepHash).toBe('sha256');
  });
});

describe('two-step wrap on SoftHSM', () => {
  let fx: SoftHsmFixture;
  let session: HsmSession;
  let kekPair: KekPair;
  let kek: KekHandle;
  let plan: WrapPlan;

  beforeAll(async () => {
    fx = await softHsmFixture();
    session = fx.openLoggedIn();
    kekPair = generateKekPair(2048);
    kek = session.importKek(parseKekPem(kekPair.publicPem));
    plan = planWrap(fx.module.mechanisms(fx.token.slotId), TWO_STEP, RSA_2048);
  });

  afterAll(async () => {
    session?.close();
    await fx?.close();
  });

  it('plans 0x210A from the real mechanism list, and the one-step method is refused', () => {
    expect(plan.kind).toBe('two-step');
    expect(plan.kwpMechanism).toBe(CKM.CKM_AES_KEY_WRAP_PAD);
    expect(kek.modulusBits).toBe(2048);
    const err = caught(() => planWrap(fx.module.mechanisms(fx.token.slotId), ONE_STEP, RSA_2048));
    expect(err.code).toBe('CKR_MECHANISM_INVALID');
  });

  for (const spec of [RSA_2048, ecSpec('P-256'), ecSpec('P-384'), ecSpec('secp256k1')] as KeySpec[]) {
    it(`wraps ${spec.kind}-${spec.bits} so that the KEK's private key unwraps the same key pair`, () => {
      const target = session.generateTargetKey(`wrap-${spec.kind}-${spec.bits}`, spec, EXPORTABLE);
      const wrapped = session.wrap(target, kek, plan);
      const material = proveWrappedKey(wrapped, kekPair.privateKey, {
        oaepHash: 'sha1',
        expectedPublicKey: target.publicKey,
        spec,
      });
      expect(material.kind).toBe(spec.kind);
      // Another KEK's private key cannot unwrap it.
      expect(() =>
        proveWrappedKey(wrapped, generateKekPair(2048).privateKey, { oaepHash: 'sha1', spec }),
      ).toThrow();
    });
  }

  for (const bits of [128, 192, 256] as const) {
    it(`wraps AES-${bits}: what the HSM encrypts, the unwrapped key decrypts`, () => {
      const spec: KeySpec = { kind: 'aes', bits };
      const target = session.generateTargetKey(
        `wrap-aes-${bits}`,
        spec,
        flags('CKF_EXTRACTABLE', 'CKF_ENCRYPT'),
      );
      const wrapped = session.wrap(target, kek, plan);
      const material = proveWrappedKey(wrapped, kekPair.privateKey, { oaepHash: 'sha1', spec });
      if (material.kind !== 'aes') throw new Error('expected AES material');
      const iv = randomBytes(16);
      const plaintext = randomBytes(64);
      const ciphertext = session.encryptAes(target, iv, plaintext);
      expect(ciphertext.equals(plaintext)).toBe(false);
      const decipher = createDecipheriv(`aes-${bits}-cbc`, material.secretKey, iv).setAutoPadding(false);
      expect(Buffer.concat([decipher.update(ciphertext), decipher.final()]).equals(plaintext)).toBe(true);
      const ecb = session.encryptAes(target, undefined, plaintext.subarray(0, 16));
      const ecbDecipher = createDecipheriv(`aes-${bits}-ecb`, material.secretKey, null).setAutoPadding(false);
      expect(
        Buffer.concat([ecbDecipher.update(ecb), ecbDecipher.final()]).equals(plaintext.subarray(0, 16)),
      ).toBe(true);
    });
  }

  it('destroys the ephemeral AES key when the target wrap fails (non-extractable target)', () => {
    const target = session.generateTargetKey('locked', AES_256, flags('CKF_ENCRYPT'));
    const before = session.sessionObjectHandles().length;
    const err = caught(() => session.wrap(target, kek, plan));
    expect(err.code).toBe('CKR_KEY_UNEXTRACTABLE');
    expect(err.message).toContain(
      "C_WrapKey ('locked' under the AES key, CKM_AES_KEY_WRAP_PAD (0x0000210A))",
    );
    expect(session.sessionObjectHandles().length).toBe(before);
  });

  it('destroys the ephemeral AES key when the OAEP wrap fails (SoftHSM with SHA-256)', () => {
    const target = session.generateTargetKey('sha256-target', AES_256, flags('CKF_EXTRACTABLE'));
    const before = session.sessionObjectHandles().length;
    // A plan planWrap would refuse, made by hand to reach the failure inside the wrap.
    const forced: WrapPlan = { ...plan, oaepHash: 'sha256' };
    const err = caught(() => session.wrap(target, kek, forced));
    expect(err.code).toBe('CKR_ARGUMENTS_BAD');
    expect(session.sessionObjectHandles().length).toBe(before);
  });

  it('counts the KEK as a session object and destroys it when asked', () => {
    const extra = session.importKek(parseKekPem(generateKekPair(2048).publicPem));
    const before = session.sessionObjectHandles().length;
    session.destroy(extra.handle);
    expect(session.sessionObjectHandles().length).toBe(before - 1);
  });

  it('destroyTargetKey removes both halves', () => {
    const target = session.generateTargetKey('short-lived', RSA_2048, EXPORTABLE);
    expect(session.findTargetKeys('short-lived')).toHaveLength(1);
    session.destroyTargetKey(target);
    expect(session.findTargetKeys('short-lived')).toHaveLength(0);
    expect(() => session.readAttributes(target.publicHandle ?? Buffer.alloc(8), [0])).toThrow(ByokError);
  });

  describe('policy verdicts without Luna', () => {
    it('passes an exportable key to be generated, with the plan mechanisms offered', () => {
      const verdicts = checkWrapPolicies({
        module: fx.module,
        token: fx.token,
        spec: RSA_2048,
        flags: EXPORTABLE,
        plan,
      });
      expect(verdicts.some((v) => v.id.startsWith('luna.'))).toBe(false);
      expect(verdicts.map((v) => [v.id, v.status])).toEqual([
        ['mechanism.wrap.0x9', 'pass'],
        ['mechanism.wrap.0x210a', 'pass'],
        ['key.extractable', 'pass'],
        ['key.wrap-with-trusted', 'pass'],
      ]);
      expect(() => assertPolicies(verdicts)).not.toThrow();
    });

    it('fails a key that would be generated without CKF_EXTRACTABLE', () => {
      const verdicts = checkWrapPolicies({
        module: fx.module,
        token: fx.token,
        spec: RSA_2048,
        flags: flags('CKF_TOKEN', 'CKF_SIGN'),
        plan,
      });
      const extractable = verdicts.find((v) => v.id === 'key.extractable');
      expect(extractable?.status).toBe('fail');
      expect(extractable?.detail).toContain('the key could never be exported');
      expect(extractable?.fix).toBe('add CKF_EXTRACTABLE to targetKeyFlags');
      const err = caught(() => assertPolicies(verdicts));
      expect(err.code).toBe('CKR_KEY_UNEXTRACTABLE');
      expect(err.message).toContain('the key could never be exported; fix: add CKF_EXTRACTABLE');
    });

    it('fails an existing non-extractable key, reading the token', () => {
      const existing = session.generateTargetKey('existing-locked', AES_256, flags('CKF_TOKEN'));
      const verdicts = checkWrapPolicies({
        module: fx.module,
        token: fx.token,
        session,
        spec: AES_256,
        flags: EXPORTABLE,
        existing,
        plan,
      });
      expect(verdicts.find((v) => v.id === 'key.extractable')?.status).toBe('fail');
      expect(verdicts.find((v) => v.id === 'key.wrap-with-trusted')?.status).toBe('pass');
      expect(caught(() => assertPolicies(verdicts)).code).toBe('CKR_KEY_UNEXTRACTABLE');
    });

    it('fails an existing key that may only be wrapped with a trusted key', () => {
      const existing = session.generateTargetKey('trusted-only', AES_256, EXPORTABLE);
      const verdicts = checkWrapPolicies({
        module: fx.module,
        token: fx.token,
        spec: AES_256,
        flags: EXPORTABLE,
        existing: { ...existing, wrapWithTrusted: true },
        plan,
      });
      expect(verdicts.find((v) => v.id === 'key.wrap-with-trusted')?.status).toBe('fail');
    });

    it('fails a plan whose mechanism the token lacks', () => {
      const lunaPlan: WrapPlan = { ...plan, kwpMechanism: CKM.CKM_LUNA_AES_KWP };
      const verdicts = checkWrapPolicies({
        module: fx.module,
        token: fx.token,
        spec: RSA_2048,
        flags: EXPORTABLE,
        plan: lunaPlan,
      });
      const row = verdicts.find((v) => v.id === 'mechanism.wrap.0x80000171');
      expect(row?.status).toBe('fail');
      expect(row?.detail).toBe('not offered by this token');
      expect(caught(() => assertPolicies(verdicts)).code).toBe('CKR_MECHANISM_INVALID');
    });
  });
});
