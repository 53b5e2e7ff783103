import { createHash, createSecretKey, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ByokError } from '../src/errors.js';
import { findCurve, parseKeySpec } from '../src/keyspec.js';
import {
  derElementLength,
  type KeyMaterial,
  parseKeyMaterial,
  publicKeysEqual,
  spkiFingerprint,
  toPkcs8Der,
} from '../src/material.js';
import type { KeySpec } from '../src/types.js';
import { rsaAesKeyUnwrap, rsaAesKeyWrap } from '../src/wrap.js';
import { ecKeyPair, rsaKeyPair, thrown } from './keys.js';

let rsaDer: Buffer = Buffer.alloc(0);
let ecDer: Buffer = Buffer.alloc(0);

beforeAll(async () => {
  rsaDer = toPkcs8Der((await rsaKeyPair(2048)).privateKey);
  ecDer = toPkcs8Der((await ecKeyPair('secp384r1')).privateKey);
}, 60_000);

function materialError(
  bytes: Buffer,
  expected: KeySpec | 'rsa' | 'ec' | 'aes' | 'hmac',
  code: string,
): ByokError {
  const e = thrown(() => parseKeyMaterial(bytes, expected));
  expect(e).toBeInstanceOf(ByokError);
  expect((e as ByokError).code).toBe(code);
  return e as ByokError;
}

function asymmetric(m: KeyMaterial): Extract<KeyMaterial, { kind: 'rsa' | 'ec' }> {
  if (m.kind === 'aes' || m.kind === 'hmac') throw new Error('expected an asymmetric key');
  return m;
}

describe('derElementLength', () => {
  it('reads short and long forms', () => {
    expect(derElementLength(Buffer.from('3003020100', 'hex'))).toBe(5);
    expect(derElementLength(Buffer.from('308180', 'hex'))).toBe(3 + 128);
    expect(derElementLength(Buffer.from('30820100', 'hex'))).toBe(4 + 256);
    expect(derElementLength(rsaDer)).toBe(rsaDer.length);
    expect(derElementLength(ecDer)).toBe(ecDer.length);
  });

  it('rejects what is not a definite-length SEQUENCE', () => {
    for (const h of ['', '30', '0403', '3080', '3085', '3082']) {
      const e = thrown(() => derElementLength(Buffer.from(h, 'hex')));
      expect(e, h).toBeInstanceOf(ByokError);
      expect((e as ByokError).code).toBe('CKR_WRAPPED_KEY_INVALID');
    }
  });
});

describe('parseKeyMaterial', () => {
  it('parses RSA and EC PKCS#8 and checks the spec', async () => {
    const rsa = asymmetric(parseKeyMaterial(rsaDer, parseKeySpec('CKK_RSA, 2048, none')));
    expect(rsa.kind).toBe('rsa');
    expect(rsa.trailingZeros).toBe(0);
    expect(rsa.publicKey.type).toBe('public');
    expect(publicKeysEqual(rsa.publicKey, (await rsaKeyPair(2048)).publicKey)).toBe(true);
    expect(toPkcs8Der(rsa.privateKey).equals(rsaDer)).toBe(true);

    const ec = asymmetric(parseKeyMaterial(ecDer, parseKeySpec('CKK_EC, 384, secp384r1')));
    expect(ec.kind).toBe('ec');
    expect(parseKeyMaterial(ecDer, 'ec').kind).toBe('ec');
    expect(parseKeyMaterial(rsaDer, 'rsa').kind).toBe('rsa');
  });

  it('parses every supported curve', async () => {
    for (const name of ['P-256', 'P-384', 'P-521', 'secp256k1']) {
      const curve = findCurve(name);
      if (!curve) throw new Error(name);
      const der = toPkcs8Der((await ecKeyPair(curve.nodeName)).privateKey);
      expect(parseKeyMaterial(der, { kind: 'ec', bits: curve.bits, curve }).kind).toBe('ec');
    }
  });

  it('accepts 0..7 trailing zero bytes (SoftHSM 2.6.1 padding) and reports them', () => {
    for (let n = 0; n <= 7; n++) {
      const padded = Buffer.concat([rsaDer, Buffer.alloc(n)]);
      const m = parseKeyMaterial(padded, 'rsa');
      expect(m.trailingZeros, `${n} zeros`).toBe(n);
      expect(
        publicKeysEqual(asymmetric(m).privateKey, asymmetric(parseKeyMaterial(rsaDer, 'rsa')).publicKey),
      ).toBe(true);
    }
    expect(parseKeyMaterial(Buffer.concat([ecDer, Buffer.alloc(5)]), 'ec').trailingZeros).toBe(5);
  });

  it('rejects 8 or more trailing zeros and any non-zero trailing byte', () => {
    const e8 = materialError(Buffer.concat([rsaDer, Buffer.alloc(8)]), 'rsa', 'CKR_WRAPPED_KEY_INVALID');
    expect(e8.message).toMatch(/8 unexpected bytes after its PKCS#8 DER/);
    for (let n = 1; n <= 7; n++) {
      const trailing = Buffer.alloc(n);
      trailing[n - 1] = 1;
      materialError(Buffer.concat([rsaDer, trailing]), 'rsa', 'CKR_WRAPPED_KEY_INVALID');
    }
    materialError(Buffer.concat([ecDer, Buffer.from([0x00, 0xff])]), 'ec', 'CKR_WRAPPED_KEY_INVALID');
  });

  it('rejects truncated, foreign or corrupt DER', () => {
    const truncated = materialError(rsaDer.subarray(0, rsaDer.length - 1), 'rsa', 'CKR_WRAPPED_KEY_INVALID');
    expect(truncated.message).toMatch(/truncated: its DER says \d+ bytes/);
    materialError(Buffer.alloc(0), 'rsa', 'CKR_WRAPPED_KEY_INVALID');
    materialError(randomBytes(32), 'rsa', 'CKR_WRAPPED_KEY_INVALID');
    const corrupt = Buffer.from(rsaDer);
    corrupt[10] = (corrupt[10] ?? 0) ^ 0xff;
    const e = materialError(corrupt, 'rsa', 'CKR_WRAPPED_KEY_INVALID');
    expect(e.message).not.toMatch(/[0-9a-f]{32}/);
  });

  it('reports type, size and curve mismatches against the spec', () => {
    materialError(rsaDer, 'ec', 'CKR_KEY_TYPE_INCONSISTENT');
    materialError(ecDer, parseKeySpec('CKK_RSA, 2048, none'), 'CKR_KEY_TYPE_INCONSISTENT');
    const size = materialError(rsaDer, parseKeySpec('CKK_RSA, 3072, none'), 'CKR_KEY_SIZE_RANGE');
    expect(size.message).toBe('unwrapped key is RSA-2048; expected RSA-3072');
    const curve = materialError(ecDer, parseKeySpec('CKK_EC, 256, P-256'), 'CKR_KEY_TYPE_INCONSISTENT');
    expect(curve.message).toBe('unwrapped key is EC P-384; expected EC P-256');
    materialError(ecDer, parseKeySpec('CKK_AES, 256, none'), 'CKR_WRAPPED_KEY_INVALID');
  });

  it('takes AES keys as raw bytes of the expected size', () => {
    for (const bytes of [16, 24, 32]) {
      const m = parseKeyMaterial(randomBytes(bytes), 'aes');
      expect(m.kind === 'aes' && m.bits).toBe(bytes * 8);
      expect(m.trailingZeros).toBe(0);
    }
    const key = randomBytes(32);
    const m = parseKeyMaterial(key, parseKeySpec('CKK_AES, 256, none'));
    expect(m.kind === 'aes' && m.secretKey.export().equals(key)).toBe(true);
    const e = materialError(randomBytes(16), parseKeySpec('CKK_AES, 256, none'), 'CKR_WRAPPED_KEY_INVALID');
    expect(e.message).toBe('unwrapped key is 16 bytes; AES-256 is 32 bytes');
    materialError(randomBytes(20), 'aes', 'CKR_WRAPPED_KEY_INVALID');
    materialError(Buffer.concat([randomBytes(32), Buffer.alloc(8)]), 'aes', 'CKR_WRAPPED_KEY_INVALID');
  });

  it('takes HMAC keys as raw bytes of the hash length (AWS HMAC_224..512)', () => {
    for (const bits of [224, 256, 384, 512] as const) {
      const key = randomBytes(bits / 8);
      const m = parseKeyMaterial(key, { kind: 'hmac', bits });
      expect(m.kind).toBe('hmac');
      expect(m.kind === 'hmac' && m.bits).toBe(bits);
      expect(m.kind === 'hmac' && m.secretKey.export().equals(key)).toBe(true);
      expect(parseKeyMaterial(key, 'hmac').kind).toBe('hmac');
    }
    const e = materialError(randomBytes(32), { kind: 'hmac', bits: 384 }, 'CKR_WRAPPED_KEY_INVALID');
    expect(e.message).toBe('unwrapped key is 32 bytes; HMAC-384 is 48 bytes');
    materialError(randomBytes(20), 'hmac', 'CKR_WRAPPED_KEY_INVALID');
  });

  it('closes the loop: wrap PKCS#8 under a KEK, unwrap, parse, compare public keys', async () => {
    const kek = await rsaKeyPair(3072);
    const target = await rsaKeyPair(2048);
    const padded = Buffer.concat([toPkcs8Der(target.privateKey), Buffer.alloc(6)]);
    const wrapped = rsaAesKeyWrap(kek.publicKey, padded, { oaepHash: 'sha1' });
    const unwrapped = rsaAesKeyUnwrap(kek.privateKey, wrapped, { oaepHash: 'sha1' });
    const m = asymmetric(parseKeyMaterial(unwrapped, parseKeySpec('CKK_RSA, 2048, none')));
    expect(m.trailingZeros).toBe(6);
    expect(publicKeysEqual(m.publicKey, target.publicKey)).toBe(true);
  });
});

describe('publicKeysEqual and spkiFingerprint', () => {
  it('compares SPKI DER and fingerprints it', async () => {
    const a = await rsaKeyPair(2048);
    const b = await ecKeyPair('prime256v1');
    expect(publicKeysEqual(a.privateKey, a.publicKey)).toBe(true);
    expect(publicKeysEqual(a.publicKey, b.publicKey)).toBe(false);
    const der = a.publicKey.export({ type: 'spki', format: 'der' });
    expect(spkiFingerprint(a.privateKey)).toBe(createHash('sha256').update(der).digest('hex'));
    expect(spkiFingerprint(b.publicKey)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses keys without a public half', () => {
    const secret = createSecretKey(randomBytes(32));
    for (const fn of [
      () => toPkcs8Der(secret),
      () => spkiFingerprint(secret),
      () => publicKeysEqual(secret, secret),
    ]) {
      const e = thrown(fn);
      expect(e).toBeInstanceOf(ByokError);
      expect((e as ByokError).code).toBe('CKR_KEY_TYPE_INCONSISTENT');
    }
  });
});
