/**
 * The AWS gaps: HMAC target keys (CKK_GENERIC_SECRET, 224..512 bits) and the direct RSA-OAEP wrap of a secret
 * key (KMS RSAES_OAEP_*), against SoftHSM: every wrapped key is unwrapped with the test KEK's private key and
 * used against the HSM's copy.
 */
import { constants, createDecipheriv, createHmac, privateDecrypt, randomBytes } from 'node:crypto';
import { ByokError, type KeySpec, parseKekPem, parseKeyMaterial } from '@byok/core';
import { generateKekPair, type KekPair } from '@byok/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKM_HMAC } from '../src/constants.js';
import { checkWrapPolicies } from '../src/policy.js';
import type { HsmSession } from '../src/session.js';
import type { KekHandle } from '../src/types.js';
import { planWrap } from '../src/wrap.js';
import { flags, RSA_2048, type SoftHsmFixture, softHsmFixture } from './helpers.js';

const HMAC_FLAGS = flags('CKF_TOKEN', 'CKF_EXTRACTABLE', 'CKF_SIGN', 'CKF_VERIFY');
const HASH_OF_BITS = { 224: 'sha224', 256: 'sha256', 384: 'sha384', 512: 'sha512' } as const;

function caught(fn: () => unknown): ByokError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ByokError) return err;
    throw err;
  }
  throw new Error('expected a ByokError, nothing was thrown');
}

function oaepUnwrap(kekPair: KekPair, wrapped: Buffer): Buffer {
  return privateDecrypt(
    { key: kekPair.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
    wrapped,
  );
}

describe('HMAC keys and the direct RSA-OAEP wrap on SoftHSM', () => {
  let fx: SoftHsmFixture;
  let session: HsmSession;
  let kekPair: KekPair;
  let kek: KekHandle;

  beforeAll(async () => {
    fx = await softHsmFixture();
    session = fx.openLoggedIn();
    kekPair = generateKekPair(2048);
    kek = session.importKek(parseKekPem(kekPair.publicPem));
  });

  afterAll(async () => {
    session?.close();
    await fx?.close();
  });

  for (const bits of [224, 256, 384, 512] as const) {
    it(`generates HMAC-${bits}, wraps it with OAEP SHA-1, and the unwrapped key MACs like the HSM`, () => {
      const spec: KeySpec = { kind: 'hmac', bits };
      const key = session.generateTargetKey(`hmac-${bits}`, spec, HMAC_FLAGS);
      expect(key).toMatchObject({ generated: true, extractable: true, sensitive: true, token: true });
      expect(key.publicKey).toBeUndefined();
      // Found again by label and checked against the spec (size included).
      const found = session.findTargetKey(`hmac-${bits}`);
      if (!found) throw new Error('not found');
      expect(found.objectClass).toBe('secret');
      expect(session.loadTargetKey(found, spec).spec).toEqual(spec);
      const other: KeySpec = { kind: 'hmac', bits: bits === 256 ? 384 : 256 };
      expect(caught(() => session.loadTargetKey(found, other)).message).toContain(`HMAC-${bits}`);
      expect(caught(() => session.loadTargetKey(found, { kind: 'aes', bits: 256 })).message).toContain(
        'generic secret',
      );

      const wrapped = session.wrapRsaOaep(key, kek, 'sha1');
      expect(wrapped.length).toBe(256);
      const material = parseKeyMaterial(oaepUnwrap(kekPair, wrapped), spec);
      if (material.kind !== 'hmac') throw new Error('expected HMAC material');
      const hash = HASH_OF_BITS[bits];
      const message = randomBytes(100);
      const mac = session.hmac(key, message, CKM_HMAC[hash]);
      expect(mac.equals(createHmac(hash, material.secretKey).update(message).digest())).toBe(true);
    });
  }

  it('wraps AES-256 directly with OAEP SHA-1 (KMS RSAES_OAEP_SHA_1)', () => {
    const spec: KeySpec = { kind: 'aes', bits: 256 };
    const key = session.generateTargetKey(
      'aes-oaep',
      spec,
      flags('CKF_TOKEN', 'CKF_EXTRACTABLE', 'CKF_ENCRYPT'),
    );
    const raw = oaepUnwrap(kekPair, session.wrapRsaOaep(key, kek, 'sha1'));
    const material = parseKeyMaterial(raw, spec);
    if (material.kind !== 'aes') throw new Error('expected AES material');
    const iv = randomBytes(16);
    const plaintext = randomBytes(32);
    const ciphertext = session.encryptAes(key, iv, plaintext);
    const decipher = createDecipheriv('aes-256-cbc', material.secretKey, iv).setAutoPadding(false);
    expect(Buffer.concat([decipher.update(ciphertext), decipher.final()]).equals(plaintext)).toBe(true);
  });

  it('refuses OAEP SHA-256 on SoftHSM up front, and private keys always', () => {
    const key = session.generateTargetKey('hmac-refuse', { kind: 'hmac', bits: 256 }, HMAC_FLAGS);
    const before = session.sessionObjectHandles().length;
    const err = caught(() => session.wrapRsaOaep(key, kek, 'sha256'));
    expect(err.code).toBe('CKR_MECHANISM_PARAM_INVALID');
    expect(err.message).toMatch(/SoftHSM supports CKM_RSA_PKCS_OAEP with SHA-1 only, not SHA-256/);
    expect(session.sessionObjectHandles().length).toBe(before);
    const rsa = session.generateTargetKey('rsa-no-oaep', RSA_2048, HMAC_FLAGS);
    expect(caught(() => session.wrapRsaOaep(rsa, kek, 'sha1')).code).toBe('CKR_KEY_TYPE_INCONSISTENT');
  });

  it('preflight treats an HMAC key as a secret key (extractable required before generation)', () => {
    const spec: KeySpec = { kind: 'hmac', bits: 256 };
    const plan = planWrap(
      fx.module.mechanisms(fx.token.slotId),
      { kind: 'two-step', oaepHash: 'sha1', kwpName: 'CKM_AES_KWP' },
      spec,
    );
    const verdicts = checkWrapPolicies({
      module: fx.module,
      token: fx.token,
      session,
      spec,
      flags: flags('CKF_TOKEN', 'CKF_SIGN'),
      existing: undefined,
      plan,
    });
    expect(verdicts.some((v) => v.status === 'fail' && v.id.includes('extractable'))).toBe(true);
  });
});
