import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeByokBlob, rsaAesKeyWrap } from '@byok/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKekPair, ProofError, proveByokFile, proveWrappedKey, writeKekPem } from '../src/index.js';

describe('generateKekPair / writeKekPem', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'byok-kek-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes an RSA pair and writes its SPKI PEM as kekBlob.pem', async () => {
    const pair = generateKekPair(3072);
    expect(pair.publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(pair.publicPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const path = await writeKekPem(dir, pair);
    expect(path).toBe(join(dir, 'kekBlob.pem'));
    expect(await readFile(path, 'utf8')).toBe(pair.publicPem);
  });
});

describe('proveWrappedKey', () => {
  const kek = generateKekPair();
  const target = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const pkcs8 = target.privateKey.export({ type: 'pkcs8', format: 'der' });

  it('recovers the key and checks it against the HSM public key', () => {
    // SoftHSM-style zero padding after the DER must be accepted.
    const padded = Buffer.concat([pkcs8, Buffer.alloc((8 - (pkcs8.length % 8)) % 8)]);
    const wrapped = rsaAesKeyWrap(kek.publicKey, padded, { oaepHash: 'sha1' });
    const material = proveWrappedKey(wrapped, kek.privateKey, {
      oaepHash: 'sha1',
      spec: 'ec',
      expectedPublicKey: target.publicKey,
    });
    expect(material.kind).toBe('ec');
  });

  it('fails for another key, another kind, another OAEP hash or another KEK', () => {
    const wrapped = rsaAesKeyWrap(kek.publicKey, pkcs8, { oaepHash: 'sha256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    expect(() =>
      proveWrappedKey(wrapped, kek.privateKey, { oaepHash: 'sha256', spec: 'ec', expectedPublicKey: other }),
    ).toThrow(ProofError);
    expect(() => proveWrappedKey(wrapped, kek.privateKey, { oaepHash: 'sha256', spec: 'rsa' })).toThrow();
    expect(() => proveWrappedKey(wrapped, kek.privateKey, { oaepHash: 'sha1', spec: 'ec' })).toThrow();
    expect(() =>
      proveWrappedKey(wrapped, generateKekPair().privateKey, { oaepHash: 'sha256', spec: 'ec' }),
    ).toThrow();
  });

  it('proves an AES key and refuses a public-key comparison for it', () => {
    const wrapped = rsaAesKeyWrap(kek.publicKey, randomBytes(32), { oaepHash: 'sha1' });
    expect(proveWrappedKey(wrapped, kek.privateKey, { oaepHash: 'sha1', spec: 'aes' }).kind).toBe('aes');
    expect(() =>
      proveWrappedKey(wrapped, kek.privateKey, {
        oaepHash: 'sha1',
        spec: 'aes',
        expectedPublicKey: kek.publicKey,
      }),
    ).toThrow(ProofError);
  });

  it('reads a targetBlob.byok file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'byok-prove-'));
    try {
      const path = join(dir, 'targetBlob.byok');
      const ciphertext = rsaAesKeyWrap(kek.publicKey, pkcs8, { oaepHash: 'sha1' });
      await writeFile(
        path,
        encodeByokBlob({
          schemaVersion: '1.0.0',
          kid: 'https://v/keys/k',
          enc: 'CKM_RSA_AES_KEY_WRAP',
          ciphertext,
          generator: 'test',
        }),
      );
      const proved = await proveByokFile(path, kek.privateKey, {
        oaepHash: 'sha1',
        spec: 'ec',
        expectedPublicKey: target.privateKey,
      });
      expect(proved.kind).toBe('ec');
      expect(proved.blob.kid).toBe('https://v/keys/k');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
