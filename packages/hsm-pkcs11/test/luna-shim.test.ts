/**
 * The Luna code paths, against @byok/testkit's shim: a PKCS#11 module forwarding to SoftHSM that reports a
 * Luna manufacturer, offers RFC 5649 only as 0x80000171, implements CKM_RSA_AES_KEY_WRAP (0x1054) and
 * answers CA_GetContainerPolicySetting from a policy file.
 */
import { join } from 'node:path';
import { ByokError, parseKekPem, type WrapMethod } from '@byok/core';
import {
  buildLunaShim,
  createSoftHsm,
  DEFAULT_LUNA_POLICIES,
  generateKekPair,
  type KekPair,
  lunaShimEnv,
  proveWrappedKey,
  type SoftHsm,
  writeLunaPolicies,
} from '@byok/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CKM } from '../src/constants.js';
import { Pkcs11Module } from '../src/module.js';
import { assertPolicies, checkWrapPolicies, type PolicyContext } from '../src/policy.js';
import type { HsmSession } from '../src/session.js';
import type { KekHandle, PolicyVerdict, TokenInfo } from '../src/types.js';
import { planWrap } from '../src/wrap.js';
import { AES_256, EXPORTABLE, ecSpec, flags, RSA_2048 } from './helpers.js';

function caught(fn: () => unknown): ByokError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ByokError) return err;
    throw err;
  }
  throw new Error('expected a ByokError, nothing was thrown');
}

let hsm: SoftHsm;
let module: Pkcs11Module;
let token: TokenInfo;
let session: HsmSession;
let kekPair: KekPair;
let kek: KekHandle;
let policyFile: string;

beforeAll(async () => {
  const shim = await buildLunaShim();
  hsm = await createSoftHsm();
  const { pin } = await hsm.initToken('luna-part');
  policyFile = join(hsm.dir, 'policies.txt');
  await writeLunaPolicies(policyFile, DEFAULT_LUNA_POLICIES);
  Object.assign(process.env, hsm.env, lunaShimEnv({ target: hsm.libraryPath, policyFile }));
  module = Pkcs11Module.load(shim);
  token = module.findToken('luna-part');
  session = module.openSession(token.slotId);
  session.login(pin);
  kekPair = generateKekPair(2048);
  kek = session.importKek(parseKekPem(kekPair.publicPem));
});

afterAll(async () => {
  session?.close();
  module?.close();
  await hsm?.cleanup();
});

describe('module detection', () => {
  it('binds the Luna extensions and does not take the shim for SoftHSM', () => {
    expect(module.luna).toBeDefined();
    expect(module.isSoftHsm).toBe(false);
    expect(module.info().manufacturer).toBe('Safenet, Inc.');
    expect(module.luna?.containerNumber(token.slotId)).toBe(0);
    expect(module.luna?.policySetting(token.slotId, 0, 1)).toBe(1);
  });
});

describe('wrapping through the shim', () => {
  it('plans one-step with CKM_RSA_AES_KEY_WRAP and wraps an RSA key the KEK unwraps (koffi OAEP params)', () => {
    const method: WrapMethod = { kind: 'one-step', oaepHash: 'sha1' };
    const plan = planWrap(module.mechanisms(token.slotId), method, RSA_2048);
    expect(plan.oneStepMechanism).toBe(CKM.CKM_RSA_AES_KEY_WRAP);
    const target = session.generateTargetKey('one-step-rsa', RSA_2048, EXPORTABLE);
    const wrapped = session.wrap(target, kek, plan);
    const material = proveWrappedKey(wrapped, kekPair.privateKey, {
      oaepHash: 'sha1',
      expectedPublicKey: target.publicKey,
      spec: RSA_2048,
    });
    expect(material.kind).toBe('rsa');
    // The OAEP hash really reached the module: a SHA-256 unwrap of a SHA-1 blob fails.
    expect(() =>
      proveWrappedKey(wrapped, kekPair.privateKey, { oaepHash: 'sha256', spec: RSA_2048 }),
    ).toThrow();
  });

  it('passes the OAEP hash through the koffi struct (SHA-256 reaches SoftHSM, which refuses it)', () => {
    const plan = planWrap(module.mechanisms(token.slotId), { kind: 'one-step', oaepHash: 'sha256' }, AES_256);
    const target = session.generateTargetKey('one-step-sha256', AES_256, EXPORTABLE);
    const before = session.sessionObjectHandles().length;
    expect(caught(() => session.wrap(target, kek, plan)).code).toBe('CKR_ARGUMENTS_BAD');
    expect(session.sessionObjectHandles().length).toBe(before);
  });

  it('plans two-step with the vendor KWP 0x80000171 (0x210A is hidden) and wraps an EC key', () => {
    const method: WrapMethod = { kind: 'two-step', oaepHash: 'sha1', kwpName: 'CKM_AES_KWP' };
    const plan = planWrap(module.mechanisms(token.slotId), method, ecSpec('P-384'));
    expect(plan.kwpMechanism).toBe(CKM.CKM_LUNA_AES_KWP);
    expect(plan.description).toContain('CKM_AES_KWP (0x80000171) as RFC 5649');
    const target = session.generateTargetKey('two-step-ec', ecSpec('P-384'), EXPORTABLE);
    const wrapped = session.wrap(target, kek, plan);
    const material = proveWrappedKey(wrapped, kekPair.privateKey, {
      oaepHash: 'sha1',
      expectedPublicKey: target.publicKey,
      spec: ecSpec('P-384'),
    });
    expect(material.kind).toBe('ec');
  });
});

describe('partition policies', () => {
  const oneStep = (): PolicyContext['plan'] =>
    planWrap(module.mechanisms(token.slotId), { kind: 'one-step', oaepHash: 'sha1' }, RSA_2048);

  function verdicts(extra: Partial<PolicyContext> = {}): PolicyVerdict[] {
    return checkWrapPolicies({ module, token, spec: RSA_2048, flags: EXPORTABLE, plan: oneStep(), ...extra });
  }

  function byId(list: readonly PolicyVerdict[], id: string): PolicyVerdict {
    const found = list.find((v) => v.id === id);
    if (!found) throw new Error(`no verdict ${id} in ${list.map((v) => v.id).join(', ')}`);
    return found;
  }

  beforeEach(async () => {
    await writeLunaPolicies(policyFile, DEFAULT_LUNA_POLICIES);
  });

  it('passes a partition set up for key export', () => {
    const list = verdicts();
    expect(list.map((v) => [v.id, v.status])).toEqual([
      ['luna.policy.1', 'pass'],
      ['luna.policy.0', 'pass'],
      ['luna.policy.10', 'skip'],
      ['luna.policy.34', 'pass'],
      ['mechanism.wrap.0x1054', 'pass'],
      ['key.extractable', 'pass'],
      ['key.wrap-with-trusted', 'pass'],
    ]);
    expect(() => assertPolicies(list)).not.toThrow();
  });

  it('fails with the lunacm fix when private key wrapping (1) is off', async () => {
    await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, 1: 0 });
    const list = verdicts();
    const row = byId(list, 'luna.policy.1');
    expect(row.status).toBe('fail');
    expect(row.subject).toBe('partition policy 1 "Allow private key wrapping"');
    expect(row.fix).toBe('lunacm: partition changepolicy -policy 1 -value 1');
    const err = caught(() => assertPolicies(list));
    expect(err.code).toBe('CKR_POLICY_VIOLATION');
    expect(err.message).toContain('partition policy 1 "Allow private key wrapping": off');
  });

  it('checks secret key wrapping (5) for AES targets, not 1 or 0', async () => {
    await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, 1: 0, 5: 0 });
    const list = verdicts({ spec: AES_256 });
    expect(byId(list, 'luna.policy.5').status).toBe('fail');
    expect(byId(list, 'luna.policy.5').fix).toBe('lunacm: partition changepolicy -policy 5 -value 1');
    expect(list.some((v) => v.id === 'luna.policy.1' || v.id === 'luna.policy.0')).toBe(false);
  });

  it('fails a partition in cloning mode (0 on, 1 off)', async () => {
    await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, 0: 1, 1: 0 });
    const row = byId(verdicts(), 'luna.policy.0');
    expect(row.status).toBe('fail');
    expect(row.detail).toContain('Cloning mode');
    expect(row.fix).toContain('-policy 0 -value 0');
  });

  it('fails a reading with 0 and 1 both on, which a Luna never allows', async () => {
    await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, 0: 1, 1: 1 });
    const list = verdicts();
    expect(byId(list, 'luna.policy.1').status).toBe('pass');
    const row = byId(list, 'luna.policy.0');
    expect(row.status).toBe('fail');
    expect(row.detail).toContain('never both');
    expect(caught(() => assertPolicies(list)).code).toBe('CKR_POLICY_VIOLATION');
  });

  it('requires multipurpose keys (10) only when the flags ask for several purposes', async () => {
    await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, 10: 0 });
    expect(byId(verdicts(), 'luna.policy.10').status).toBe('skip');
    const multi = byId(
      verdicts({ flags: flags('CKF_EXTRACTABLE', 'CKF_SIGN', 'CKF_DECRYPT') }),
      'luna.policy.10',
    );
    expect(multi.status).toBe('fail');
    expect(multi.detail).toContain('2 purposes');
    expect(multi.fix).toContain('-policy 10 -value 1');
  });

  it('only warns about CBC-PAD wrapping of any size (34)', async () => {
    await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, 34: 0 });
    const list = verdicts();
    expect(byId(list, 'luna.policy.34').status).toBe('warn');
    expect(() => assertPolicies(list)).not.toThrow();
  });

  it('reports a policy the partition cannot answer by its CKR', async () => {
    await writeLunaPolicies(policyFile, { 0: 0, 1: 1 });
    const err = caught(() => verdicts());
    expect(err.code).toBe('CKR_ARGUMENTS_BAD');
    expect(err.message).toContain('CA_GetContainerPolicySetting');
  });
});
