import { createHash, createVerify, type KeyObject, verify } from 'node:crypto';
import { ByokError, describeKeySpec, type KeySpec } from '@byok/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKM } from '../src/constants.js';
import { targetKeyTemplates } from '../src/keygen.js';
import type { HsmSession } from '../src/session.js';
import type { TargetKey } from '../src/types.js';
import { bool, EXPORTABLE, ecSpec, flags, type SoftHsmFixture, softHsmFixture } from './helpers.js';

let fx: SoftHsmFixture;
let session: HsmSession;

beforeAll(async () => {
  fx = await softHsmFixture();
  session = fx.openLoggedIn();
});

afterAll(async () => {
  session?.close();
  await fx?.close();
});

function ulong(key: Buffer, type: number): number | undefined {
  const [value] = session.readAttributes(key, [type]);
  return value === undefined ? undefined : Number(value.readBigUInt64LE(0));
}

/** The attributes every generated target must have, read back from the token (not from our own result). */
function expectCommonAttributes(key: TargetKey, label: string, extractable: boolean, token: boolean): void {
  const [labelValue, idValue] = session.readAttributes(key.handle, [CKA.CKA_LABEL, CKA.CKA_ID]);
  expect(labelValue?.toString()).toBe(label);
  expect(idValue?.toString()).toBe(label);
  expect(bool(session, key.handle, CKA.CKA_SENSITIVE)).toBe(true);
  expect(bool(session, key.handle, CKA.CKA_PRIVATE)).toBe(true);
  expect(bool(session, key.handle, CKA.CKA_EXTRACTABLE)).toBe(extractable);
  expect(bool(session, key.handle, CKA.CKA_TOKEN)).toBe(token);
  expect(bool(session, key.handle, CKA.CKA_WRAP_WITH_TRUSTED)).toBe(false);
  // Sensitive: the value itself cannot be read.
  expect(session.readAttributes(key.handle, [CKA.CKA_VALUE])[0]).toBeUndefined();
  expect(key.generated).toBe(true);
}

function expectSignatureVerifies(key: TargetKey, spec: KeySpec): void {
  const data = Buffer.from('proof that the public key read back belongs to the private key');
  const publicKey: KeyObject | undefined = key.publicKey;
  if (!publicKey) throw new Error('no public key read back');
  if (spec.kind === 'rsa') {
    const signature = session.sign(key, CKM.CKM_SHA256_RSA_PKCS, data);
    expect(createVerify('sha256').update(data).verify(publicKey, signature)).toBe(true);
  } else {
    const hash = spec.bits > 384 ? 'sha512' : spec.bits > 256 ? 'sha384' : 'sha256';
    const digest = createHash(hash).update(data).digest();
    const signature = session.sign(key, CKM.CKM_ECDSA, digest);
    expect(verify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
  }
}

describe('RSA target keys', () => {
  for (const bits of [2048, 3072]) {
    it(`generates RSA-${bits} with e=65537, the asked attributes and a matching public key`, () => {
      const spec: KeySpec = { kind: 'rsa', bits };
      const label = `rsa-${bits}`;
      const key = session.generateTargetKey(label, spec, EXPORTABLE);
      expectCommonAttributes(key, label, true, true);
      expect(key.publicKey?.asymmetricKeyDetails?.modulusLength).toBe(bits);
      expect(key.publicKey?.asymmetricKeyDetails?.publicExponent).toBe(65537n);
      expect(bool(session, key.handle, CKA.CKA_SIGN)).toBe(true);
      expect(bool(session, key.handle, CKA.CKA_DECRYPT)).toBe(false);
      const pub = key.publicHandle ?? Buffer.alloc(0);
      expect(bool(session, pub, CKA.CKA_VERIFY)).toBe(true);
      expect(bool(session, pub, CKA.CKA_ENCRYPT)).toBe(false);
      expect(bool(session, pub, CKA.CKA_PRIVATE)).toBe(false);
      expect(ulong(pub, CKA.CKA_MODULUS_BITS)).toBe(bits);
      expectSignatureVerifies(key, spec);
    });
  }

  it('generates RSA-4096', () => {
    const key = session.generateTargetKey('rsa-4096', { kind: 'rsa', bits: 4096 }, EXPORTABLE);
    expect(key.publicKey?.asymmetricKeyDetails?.modulusLength).toBe(4096);
  });

  it('maps CKF_* flags onto the right halves, and without CKF_TOKEN makes session objects', () => {
    const key = session.generateTargetKey(
      'rsa-flags',
      { kind: 'rsa', bits: 2048 },
      flags('CKF_ENCRYPT', 'CKF_DECRYPT', 'CKF_WRAP', 'CKF_UNWRAP', 'CKF_MODIFIABLE'),
    );
    expectCommonAttributes(key, 'rsa-flags', false, false);
    const pub = key.publicHandle ?? Buffer.alloc(0);
    expect(bool(session, key.handle, CKA.CKA_DECRYPT)).toBe(true);
    expect(bool(session, key.handle, CKA.CKA_UNWRAP)).toBe(true);
    expect(bool(session, key.handle, CKA.CKA_SIGN)).toBe(false);
    expect(bool(session, key.handle, CKA.CKA_MODIFIABLE)).toBe(true);
    expect(bool(session, pub, CKA.CKA_ENCRYPT)).toBe(true);
    expect(bool(session, pub, CKA.CKA_WRAP)).toBe(true);
    expect(bool(session, pub, CKA.CKA_VERIFY)).toBe(false);
    expect(bool(session, pub, CKA.CKA_TOKEN)).toBe(false);
    // Not on the token: another search for token keys does not see it.
    expect(session.findTargetKeys('rsa-flags')).toEqual([]);
  });
});

describe('EC target keys', () => {
  for (const name of ['P-256', 'P-384', 'P-521', 'secp256k1']) {
    it(`generates EC ${name} on the asked curve with a matching public key`, () => {
      const spec = ecSpec(name);
      const label = `ec-${name}`;
      const key = session.generateTargetKey(label, spec, EXPORTABLE);
      expectCommonAttributes(key, label, true, true);
      if (spec.kind !== 'ec') throw new Error('ecSpec');
      const [params] = session.readAttributes(key.publicHandle ?? Buffer.alloc(0), [CKA.CKA_EC_PARAMS]);
      expect(params?.equals(spec.curve.ecParamsDer)).toBe(true);
      expect(key.publicKey?.asymmetricKeyDetails?.namedCurve).toBe(spec.curve.nodeName);
      // ECDSA keys do not encrypt: CKF_ENCRYPT/DECRYPT are not applied to them.
      expect(bool(session, key.handle, CKA.CKA_DECRYPT)).toBe(false);
      expectSignatureVerifies(key, spec);
    });
  }
});

describe('AES target keys', () => {
  for (const bits of [128, 192, 256] as const) {
    it(`generates AES-${bits}`, () => {
      const key = session.generateTargetKey(
        `aes-${bits}`,
        { kind: 'aes', bits },
        flags('CKF_TOKEN', 'CKF_ENCRYPT'),
      );
      expectCommonAttributes(key, `aes-${bits}`, false, true);
      expect(ulong(key.handle, CKA.CKA_VALUE_LEN)).toBe(bits / 8);
      expect(bool(session, key.handle, CKA.CKA_ENCRYPT)).toBe(true);
      expect(bool(session, key.handle, CKA.CKA_DECRYPT)).toBe(false);
      expect(key.publicKey).toBeUndefined();
      expect(key.publicHandle).toBeUndefined();
    });
  }
});

describe('templates', () => {
  it('writes every usage attribute out, true or false, on both halves', () => {
    const { publicTemplate, privateTemplate } = targetKeyTemplates('x', { kind: 'rsa', bits: 2048 }, flags());
    const types = (t: typeof privateTemplate | undefined) => (t ?? []).map((a) => a.type);
    for (const type of [
      CKA.CKA_SENSITIVE,
      CKA.CKA_EXTRACTABLE,
      CKA.CKA_PRIVATE,
      CKA.CKA_SIGN,
      CKA.CKA_DECRYPT,
    ]) {
      expect(types(privateTemplate)).toContain(type);
    }
    for (const type of [CKA.CKA_ENCRYPT, CKA.CKA_VERIFY, CKA.CKA_WRAP, CKA.CKA_PUBLIC_EXPONENT]) {
      expect(types(publicTemplate)).toContain(type);
    }
  });

  it('refuses a generation failure with the CKR and the key named', () => {
    let error: unknown;
    try {
      session.generateTargetKey('too-small', { kind: 'rsa', bits: 256 }, EXPORTABLE);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ByokError);
    expect((error as ByokError).message).toContain(
      `generating ${describeKeySpec({ kind: 'rsa', bits: 256 })}`,
    );
    expect((error as ByokError).code).toMatch(/^CKR_/);
    expect(session.findTargetKeys('too-small')).toEqual([]);
  });
});
