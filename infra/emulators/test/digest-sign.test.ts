import { constants, createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signDigest, verifyDigest } from '../src/shared/digest-sign.js';

const data = Buffer.from('digest signing must agree with node:crypto message signing');

describe('signing precomputed digests', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
    const digest = createHash(hash).update(data).digest();

    it(`RSA PKCS#1 v1.5 over a ${hash} digest verifies as node:crypto's message signature`, () => {
      const sig = signDigest(rsa.privateKey, { kind: 'pkcs1', hash }, digest);
      expect(sig.equals(sign(hash, data, rsa.privateKey))).toBe(true);
      expect(verifyDigest(rsa.publicKey, { kind: 'pkcs1', hash }, digest, sig)).toBe(true);
    });

    it(`RSA-PSS over a ${hash} digest interoperates with node:crypto both ways`, () => {
      const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
      const ours = signDigest(rsa.privateKey, { kind: 'pss', hash }, digest);
      expect(verify(hash, data, { key: rsa.publicKey, ...pss }, ours)).toBe(true);
      const theirs = sign(hash, data, { key: rsa.privateKey, ...pss });
      expect(verifyDigest(rsa.publicKey, { kind: 'pss', hash }, digest, theirs)).toBe(true);
      const other = createHash(hash).update('other').digest();
      expect(verifyDigest(rsa.publicKey, { kind: 'pss', hash }, other, theirs)).toBe(false);
    });
  }

  for (const [curve, hash] of [
    ['prime256v1', 'sha256'],
    ['secp384r1', 'sha384'],
    ['secp521r1', 'sha512'],
    ['secp256k1', 'sha256'],
  ] as const) {
    it(`ECDSA on ${curve} over a ${hash} digest interoperates with node:crypto (DER and P1363)`, () => {
      const ec = generateKeyPairSync('ec', { namedCurve: curve });
      const digest = createHash(hash).update(data).digest();
      for (const encoding of ['der', 'p1363'] as const) {
        const dsaEncoding = encoding === 'der' ? 'der' : 'ieee-p1363';
        const ours = signDigest(ec.privateKey, { kind: 'ecdsa', encoding }, digest);
        expect(verify(hash, data, { key: ec.publicKey, dsaEncoding }, ours)).toBe(true);
        const theirs = sign(hash, data, { key: ec.privateKey, dsaEncoding });
        expect(verifyDigest(ec.publicKey, { kind: 'ecdsa', encoding }, digest, theirs)).toBe(true);
        expect(
          verifyDigest(ec.publicKey, { kind: 'ecdsa', encoding }, Buffer.alloc(digest.length), theirs),
        ).toBe(false);
      }
    });
  }
});
