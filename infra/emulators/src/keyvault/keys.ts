/** Key material of emulated keys: generation, loading from the state, and the public JWK the service returns. */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { type CurveName, familyOf, NODE_CURVE, type StoredKeyVersion } from './model.js';

export interface GeneratedMaterial {
  readonly privateKeyPem?: string;
  readonly secretKey?: string;
}

export function generateRsa(bits: number, publicExponent: number): GeneratedMaterial {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent });
  return { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export function generateEc(crv: CurveName): GeneratedMaterial {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: NODE_CURVE[crv] });
  return { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export function generateOct(bits: number): GeneratedMaterial {
  return { secretKey: randomBytes(bits / 8).toString('base64') };
}

export function privateKeyOf(key: StoredKeyVersion): KeyObject {
  if (!key.privateKeyPem) throw new Error(`key ${key.name}/${key.version} holds no private key`);
  return createPrivateKey(key.privateKeyPem);
}

export function secretOf(key: StoredKeyVersion): Buffer {
  if (!key.secretKey) throw new Error(`key ${key.name}/${key.version} holds no secret key`);
  return Buffer.from(key.secretKey, 'base64');
}

export type PublicJwk = Record<string, string | string[]>;

/** The `key` member of a KeyBundle: public parts only (oct keys show none), as the service does. */
export function publicJwk(key: StoredKeyVersion, kid: string): PublicJwk {
  const jwk: PublicJwk = { kid, kty: key.kty, key_ops: [...key.keyOps] };
  const family = familyOf(key.kty);
  if (family === 'oct') return jwk;
  const pub = createPublicKey(privateKeyOf(key)).export({ format: 'jwk' });
  if (family === 'rsa') {
    if (typeof pub.n !== 'string' || typeof pub.e !== 'string') throw new Error('RSA JWK without n/e');
    jwk.n = pub.n;
    jwk.e = pub.e;
  } else {
    if (typeof pub.x !== 'string' || typeof pub.y !== 'string') throw new Error('EC JWK without x/y');
    jwk.crv = key.crv ?? 'P-256';
    jwk.x = pub.x;
    jwk.y = pub.y;
  }
  return jwk;
}

/** JWK `crv` of a node:crypto EC key. */
export function curveOfKey(key: KeyObject): CurveName | undefined {
  const nodeName = key.asymmetricKeyDetails?.namedCurve;
  return (Object.entries(NODE_CURVE) as [CurveName, string][]).find(([, n]) => n === nodeName)?.[0];
}
