/**
 * Signing a precomputed digest. Key Vault's sign/verify and KMS's `MessageType: DIGEST` hand the service a
 * hash, but node:crypto only signs messages (it always hashes; `sign(null, ...)` on an EC key silently uses
 * SHA-256). So:
 * - RSA PKCS#1 v1.5: DigestInfo + the raw private operation with PKCS#1 type-1 padding (node:crypto);
 * - RSA PSS: EMSA-PSS (RFC 8017 s9.1, salt length = hash length, as Azure and AWS use) over the raw RSA
 *   operation (node:crypto);
 * - ECDSA: @noble/curves with `prehash: false`, the one operation node:crypto cannot do.
 */
import {
  constants,
  createHash,
  type KeyObject,
  privateEncrypt,
  publicDecrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';

export type DigestHash = 'sha256' | 'sha384' | 'sha512';

export const DIGEST_BYTES: Readonly<Record<DigestHash, number>> = { sha256: 32, sha384: 48, sha512: 64 };

export type SignatureScheme =
  | { readonly kind: 'pkcs1'; readonly hash: DigestHash }
  | { readonly kind: 'pss'; readonly hash: DigestHash }
  /** `p1363` is r||s (JOSE, Key Vault); `der` is the ASN.1 SEQUENCE (KMS, X.509). */
  | { readonly kind: 'ecdsa'; readonly encoding: 'p1363' | 'der' };

const DIGEST_INFO_PREFIX: Readonly<Record<DigestHash, Buffer>> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

export function signDigest(privateKey: KeyObject, scheme: SignatureScheme, digest: Buffer): Buffer {
  switch (scheme.kind) {
    case 'pkcs1':
      return privateEncrypt(
        { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
        Buffer.concat([DIGEST_INFO_PREFIX[scheme.hash], digest]),
      );
    case 'pss': {
      const bits = modulusBits(privateKey);
      const em = emsaPssEncode(digest, bits - 1, scheme.hash);
      const k = Math.ceil(bits / 8);
      const block = Buffer.concat([Buffer.alloc(k - em.length), em]);
      return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, block);
    }
    case 'ecdsa': {
      const { curve, d } = ecParts(privateKey);
      const sig = curve.sign(digest, d, {
        prehash: false,
        lowS: false,
        format: scheme.encoding === 'der' ? 'der' : 'compact',
        extraEntropy: true,
      });
      return Buffer.from(sig);
    }
  }
}

export function verifyDigest(
  publicKey: KeyObject,
  scheme: SignatureScheme,
  digest: Buffer,
  signature: Buffer,
): boolean {
  try {
    switch (scheme.kind) {
      case 'pkcs1': {
        const expected = Buffer.concat([DIGEST_INFO_PREFIX[scheme.hash], digest]);
        const got = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
        return got.length === expected.length && timingSafeEqual(got, expected);
      }
      case 'pss': {
        const bits = modulusBits(publicKey);
        const k = Math.ceil(bits / 8);
        if (signature.length !== k) return false;
        const block = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature);
        const emLen = Math.ceil((bits - 1) / 8);
        if (block.subarray(0, k - emLen).some((b) => b !== 0)) return false;
        return emsaPssVerify(digest, block.subarray(k - emLen), bits - 1, scheme.hash);
      }
      case 'ecdsa': {
        const { curve, point } = ecPublicParts(publicKey);
        return curve.verify(signature, digest, point, {
          prehash: false,
          lowS: false,
          format: scheme.encoding === 'der' ? 'der' : 'compact',
        });
      }
    }
  } catch {
    return false;
  }
}

function modulusBits(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== 'rsa' || bits === undefined) throw new Error('an RSA key is required');
  return bits;
}

function mgf1(seed: Buffer, length: number, hash: DigestHash): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; out.length * DIGEST_BYTES[hash] < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(createHash(hash).update(seed).update(c).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

function emsaPssEncode(mHash: Buffer, emBits: number, hash: DigestHash): Buffer {
  const hLen = DIGEST_BYTES[hash];
  const sLen = hLen;
  const emLen = Math.ceil(emBits / 8);
  if (mHash.length !== hLen) throw new Error(`digest must be ${hLen} bytes for ${hash}`);
  const salt = randomBytes(sLen);
  const h = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - sLen - hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(h, emLen - hLen - 1, hash);
  for (let i = 0; i < db.length; i++) db[i] = (db[i] ?? 0) ^ (mask[i] ?? 0);
  db[0] = (db[0] ?? 0) & (0xff >> (8 * emLen - emBits));
  return Buffer.concat([db, h, Buffer.from([0xbc])]);
}

function emsaPssVerify(mHash: Buffer, em: Buffer, emBits: number, hash: DigestHash): boolean {
  const hLen = DIGEST_BYTES[hash];
  const sLen = hLen;
  const emLen = Math.ceil(emBits / 8);
  if (mHash.length !== hLen || em.length !== emLen || emLen < hLen + sLen + 2) return false;
  if (em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  const topMask = 0xff >> (8 * emLen - emBits);
  if (((maskedDb[0] ?? 0) & ~topMask) !== 0) return false;
  const mask = mgf1(h, maskedDb.length, hash);
  const db = Buffer.alloc(maskedDb.length);
  for (let i = 0; i < db.length; i++) db[i] = (maskedDb[i] ?? 0) ^ (mask[i] ?? 0);
  db[0] = (db[0] ?? 0) & topMask;
  const psLen = emLen - hLen - sLen - 2;
  if (db.subarray(0, psLen).some((b) => b !== 0) || db[psLen] !== 1) return false;
  const salt = db.subarray(db.length - sLen);
  const h2 = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return timingSafeEqual(h, h2);
}

type NobleEcdsa = typeof p256;

const CURVES: Readonly<Record<string, NobleEcdsa>> = {
  prime256v1: p256,
  secp384r1: p384,
  secp521r1: p521,
  secp256k1: secp256k1,
};

function curveOf(key: KeyObject): NobleEcdsa {
  const name = key.asymmetricKeyDetails?.namedCurve;
  const curve = name === undefined ? undefined : CURVES[name];
  if (key.asymmetricKeyType !== 'ec' || !curve)
    throw new Error(`unsupported EC key (curve ${name ?? 'unknown'})`);
  return curve;
}

function ecParts(privateKey: KeyObject): { curve: NobleEcdsa; d: Uint8Array } {
  const curve = curveOf(privateKey);
  const jwk = privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new Error('EC private key without d');
  return { curve, d: Buffer.from(jwk.d, 'base64url') };
}

function ecPublicParts(publicKey: KeyObject): { curve: NobleEcdsa; point: Uint8Array } {
  const curve = curveOf(publicKey);
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new Error('EC public key without x/y');
  return {
    curve,
    point: Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x, 'base64url'),
      Buffer.from(jwk.y, 'base64url'),
    ]),
  };
}
