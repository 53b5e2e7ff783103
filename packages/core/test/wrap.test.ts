import { constants, privateDecrypt, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ByokError } from '../src/errors.js';
import type { OaepHash } from '../src/types.js';
import {
  aesKwpUnwrap,
  aesKwpWrap,
  OAEP_HASHES,
  rsaAesKeyUnwrap,
  rsaAesKeyWrap,
  rsaOaepDecrypt,
  rsaOaepEncrypt,
} from '../src/wrap.js';
import { ecKeyPair, rsaKeyPair, thrown } from './keys.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function byokError(fn: () => unknown, code: string): ByokError {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(ByokError);
  expect((e as ByokError).code).toBe(code);
  return e as ByokError;
}

describe('AES-KWP (RFC 5649)', () => {
  // RFC 5649 section 6: the two published examples, both under the same 192-bit KEK.
  const kek = hex('5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8');
  const vectors = [
    {
      key: hex('c37b7e6492584340 bed1220780894115 5068f738'),
      wrapped: hex('138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a'),
    },
    { key: hex('466f7250617369'), wrapped: hex('afbeb0f07dfbf541 9200f2ccb50bb24f') },
  ];

  it('reproduces the RFC 5649 section 6 known answers', () => {
    for (const v of vectors) {
      expect(aesKwpWrap(kek, v.key).toString('hex')).toBe(v.wrapped.toString('hex'));
      expect(aesKwpUnwrap(kek, v.wrapped).toString('hex')).toBe(v.key.toString('hex'));
    }
  });

  it('round-trips every key size and data lengths around the 8-byte boundary', () => {
    for (const keyBytes of [16, 24, 32]) {
      const key = randomBytes(keyBytes);
      for (const len of [1, 7, 8, 9, 15, 16, 17, 32, 1217]) {
        const data = randomBytes(len);
        const wrapped = aesKwpWrap(key, data);
        expect(wrapped.length).toBe(Math.ceil(len / 8) * 8 + 8);
        expect(aesKwpUnwrap(key, wrapped).equals(data)).toBe(true);
      }
    }
  });

  it('detects a wrong key and any altered byte', () => {
    const key = randomBytes(32);
    const wrapped = aesKwpWrap(key, randomBytes(40));
    byokError(() => aesKwpUnwrap(randomBytes(32), wrapped), 'CKR_WRAPPED_KEY_INVALID');
    for (const i of [0, 7, 8, wrapped.length - 1]) {
      const altered = Buffer.from(wrapped);
      altered[i] = (altered[i] ?? 0) ^ 0x01;
      const e = byokError(() => aesKwpUnwrap(key, altered), 'CKR_WRAPPED_KEY_INVALID');
      expect(e.message).toMatch(/integrity check/);
    }
  });

  it('rejects bad sizes with clear errors', () => {
    byokError(() => aesKwpWrap(randomBytes(20), Buffer.from('x')), 'CKR_WRAPPING_KEY_SIZE_RANGE');
    byokError(() => aesKwpWrap(randomBytes(32), Buffer.alloc(0)), 'CKR_ARGUMENTS_BAD');
    byokError(() => aesKwpUnwrap(randomBytes(32), randomBytes(8)), 'CKR_WRAPPED_KEY_INVALID');
    byokError(() => aesKwpUnwrap(randomBytes(32), randomBytes(20)), 'CKR_WRAPPED_KEY_INVALID');
  });
});

describe('RSA-OAEP helpers', () => {
  it('uses the given hash for the label and MGF1 alike', async () => {
    const { publicKey, privateKey } = await rsaKeyPair(2048);
    for (const hash of OAEP_HASHES) {
      const ct = rsaOaepEncrypt(publicKey, Buffer.from('ephemeral'), hash);
      // An independent decrypt with node's own API and the same hash must agree.
      const pt = privateDecrypt(
        { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
        ct,
      );
      expect(pt.toString()).toBe('ephemeral');
      expect(rsaOaepDecrypt(privateKey, ct, hash).toString()).toBe('ephemeral');
      const other: OaepHash = hash === 'sha1' ? 'sha256' : 'sha1';
      const e = byokError(() => rsaOaepDecrypt(privateKey, ct, other), 'CKR_WRAPPED_KEY_INVALID');
      expect(e.message).toContain(`OAEP hash other than ${other}`);
    }
  });

  it('refuses non-RSA keys, public keys for decryption and oversized data', async () => {
    const ec = await ecKeyPair('prime256v1');
    const { publicKey, privateKey } = await rsaKeyPair(2048);
    byokError(
      () => rsaOaepEncrypt(ec.publicKey, Buffer.alloc(32), 'sha1'),
      'CKR_WRAPPING_KEY_TYPE_INCONSISTENT',
    );
    byokError(() => rsaOaepDecrypt(publicKey, Buffer.alloc(256), 'sha1'), 'CKR_KEY_TYPE_INCONSISTENT');
    byokError(() => rsaOaepDecrypt(privateKey, Buffer.alloc(255), 'sha1'), 'CKR_WRAPPED_KEY_INVALID');
    // RSA-2048 with SHA-512 holds 256 - 2*64 - 2 = 126 bytes.
    expect(rsaOaepEncrypt(publicKey, Buffer.alloc(126), 'sha512')).toHaveLength(256);
    const e = byokError(
      () => rsaOaepEncrypt(publicKey, Buffer.alloc(127), 'sha512'),
      'CKR_WRAPPING_KEY_SIZE_RANGE',
    );
    expect(e.message).toBe('RSA-2048 with OAEP sha512 can encrypt at most 126 bytes, not 127');
  });
});

describe('CKM_RSA_AES_KEY_WRAP reference', () => {
  const sizes = [2048, 3072, 4096] as const;
  beforeAll(async () => {
    await Promise.all(sizes.map((b) => rsaKeyPair(b)));
  }, 120_000);

  for (const bits of sizes) {
    for (const hash of OAEP_HASHES) {
      it(`round-trips under an RSA-${bits} KEK with OAEP ${hash}`, async () => {
        const { publicKey, privateKey } = await rsaKeyPair(bits);
        const material = randomBytes(1190); // about an RSA-2048 PKCS#8: not a multiple of 8
        const wrapped = rsaAesKeyWrap(publicKey, material, { oaepHash: hash });
        // Layout: the OAEP block is exactly the modulus length, KWP adds 8 bytes after padding to 8.
        expect(wrapped.length).toBe(bits / 8 + Math.ceil(material.length / 8) * 8 + 8);
        expect(rsaAesKeyUnwrap(privateKey, wrapped, { oaepHash: hash }).equals(material)).toBe(true);
        // The first part is an OAEP encryption of a 32-byte AES key; the rest is KWP under that key.
        const ephemeral = rsaOaepDecrypt(privateKey, wrapped.subarray(0, bits / 8), hash);
        expect(ephemeral).toHaveLength(32);
        expect(aesKwpUnwrap(ephemeral, wrapped.subarray(bits / 8)).equals(material)).toBe(true);
      });
    }
  }

  it('honours aesKeyBits and wraps a fresh ephemeral key each time', async () => {
    const { publicKey, privateKey } = await rsaKeyPair(2048);
    const material = randomBytes(32);
    for (const aesKeyBits of [128, 192, 256] as const) {
      const wrapped = rsaAesKeyWrap(publicKey, material, { oaepHash: 'sha1', aesKeyBits });
      expect(rsaOaepDecrypt(privateKey, wrapped.subarray(0, 256), 'sha1')).toHaveLength(aesKeyBits / 8);
      expect(rsaAesKeyUnwrap(privateKey, wrapped, { oaepHash: 'sha1' }).equals(material)).toBe(true);
    }
    const a = rsaAesKeyWrap(publicKey, material, { oaepHash: 'sha1' });
    const b = rsaAesKeyWrap(publicKey, material, { oaepHash: 'sha1' });
    expect(a.subarray(256).equals(b.subarray(256))).toBe(false);
  });

  it('fails cleanly on a wrong KEK, wrong hash, truncation or tampering, without key bytes in messages', async () => {
    const kek = await rsaKeyPair(2048);
    const other = await rsaKeyPair(3072);
    const material = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
    const wrapped = rsaAesKeyWrap(kek.publicKey, material, { oaepHash: 'sha256' });

    const errors = [
      byokError(
        () => rsaAesKeyUnwrap(kek.privateKey, wrapped, { oaepHash: 'sha1' }),
        'CKR_WRAPPED_KEY_INVALID',
      ),
      byokError(
        () => rsaAesKeyUnwrap(other.privateKey, wrapped, { oaepHash: 'sha256' }),
        'CKR_WRAPPED_KEY_INVALID',
      ),
      byokError(
        () => rsaAesKeyUnwrap(kek.privateKey, wrapped.subarray(0, 260), { oaepHash: 'sha256' }),
        'CKR_WRAPPED_KEY_INVALID',
      ),
      byokError(
        () =>
          rsaAesKeyUnwrap(kek.privateKey, wrapped.subarray(0, wrapped.length - 8), { oaepHash: 'sha256' }),
        'CKR_WRAPPED_KEY_INVALID',
      ),
    ];
    const tampered = Buffer.from(wrapped);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0xff;
    errors.push(
      byokError(
        () => rsaAesKeyUnwrap(kek.privateKey, tampered, { oaepHash: 'sha256' }),
        'CKR_WRAPPED_KEY_INVALID',
      ),
    );
    expect(errors[0]?.message).toMatch(/wrapped under another KEK or with an OAEP hash other than sha1/);
    expect(errors[2]?.message).toMatch(/at least 272/);
    for (const e of errors) {
      expect(e.message).not.toContain(material.toString('hex'));
      expect(e.message).not.toContain(material.toString('base64'));
      expect(e.message).not.toContain('\n');
    }
  });

  it('refuses a KEK that is not RSA', async () => {
    const ec = await ecKeyPair('secp384r1');
    byokError(
      () => rsaAesKeyWrap(ec.publicKey, Buffer.alloc(32), { oaepHash: 'sha1' }),
      'CKR_WRAPPING_KEY_TYPE_INCONSISTENT',
    );
    byokError(
      () => rsaAesKeyUnwrap(ec.privateKey, Buffer.alloc(300), { oaepHash: 'sha1' }),
      'CKR_WRAPPING_KEY_TYPE_INCONSISTENT',
    );
  });
});
