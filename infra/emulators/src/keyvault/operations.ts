/**
 * The key operations (sign, verify, encrypt, decrypt, wrapKey, unwrapKey), done for real with the stored key
 * and the algorithm identifiers of the service. Parameter problems answer 400 BadParameter as the service does.
 */
import {
  type CipherGCMTypes,
  constants,
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import {
  DIGEST_BYTES,
  type DigestHash,
  type SignatureScheme,
  signDigest,
  verifyDigest,
} from '../shared/digest-sign.js';
import { badParameter } from './errors.js';
import { privateKeyOf, secretOf } from './keys.js';
import { type CurveName, familyOf, type StoredKeyVersion } from './model.js';

interface SignAlg {
  readonly family: 'rsa' | 'ec';
  readonly hash: DigestHash;
  readonly scheme: SignatureScheme;
  readonly curve?: CurveName;
}

const SIGN_ALGS: Readonly<Record<string, SignAlg>> = {
  RS256: { family: 'rsa', hash: 'sha256', scheme: { kind: 'pkcs1', hash: 'sha256' } },
  RS384: { family: 'rsa', hash: 'sha384', scheme: { kind: 'pkcs1', hash: 'sha384' } },
  RS512: { family: 'rsa', hash: 'sha512', scheme: { kind: 'pkcs1', hash: 'sha512' } },
  PS256: { family: 'rsa', hash: 'sha256', scheme: { kind: 'pss', hash: 'sha256' } },
  PS384: { family: 'rsa', hash: 'sha384', scheme: { kind: 'pss', hash: 'sha384' } },
  PS512: { family: 'rsa', hash: 'sha512', scheme: { kind: 'pss', hash: 'sha512' } },
  ES256: { family: 'ec', hash: 'sha256', scheme: { kind: 'ecdsa', encoding: 'p1363' }, curve: 'P-256' },
  ES384: { family: 'ec', hash: 'sha384', scheme: { kind: 'ecdsa', encoding: 'p1363' }, curve: 'P-384' },
  ES512: { family: 'ec', hash: 'sha512', scheme: { kind: 'ecdsa', encoding: 'p1363' }, curve: 'P-521' },
  ES256K: { family: 'ec', hash: 'sha256', scheme: { kind: 'ecdsa', encoding: 'p1363' }, curve: 'P-256K' },
};

function signAlg(key: StoredKeyVersion, alg: string, digest: Buffer): SignAlg {
  const spec = SIGN_ALGS[alg];
  if (!spec)
    throw badParameter(
      `Invalid algorithm: ${alg}. Supported values are ${Object.keys(SIGN_ALGS).join(', ')}.`,
    );
  if (spec.family !== familyOf(key.kty))
    throw badParameter(`Algorithm ${alg} is not valid for a ${key.kty} key.`);
  if (spec.curve && spec.curve !== key.crv) {
    throw badParameter(
      `Algorithm ${alg} is not valid for a key on curve ${key.crv ?? 'unknown'}; it needs ${spec.curve}.`,
    );
  }
  if (digest.length !== DIGEST_BYTES[spec.hash]) {
    throw badParameter(
      `Invalid digest length ${digest.length} for ${alg}; it must be ${DIGEST_BYTES[spec.hash]} bytes.`,
    );
  }
  return spec;
}

export function sign(key: StoredKeyVersion, alg: string, digest: Buffer): Buffer {
  const spec = signAlg(key, alg, digest);
  return signDigest(privateKeyOf(key), spec.scheme, digest);
}

export function verify(key: StoredKeyVersion, alg: string, digest: Buffer, signature: Buffer): boolean {
  const spec = signAlg(key, alg, digest);
  return verifyDigest(createPublicKey(privateKeyOf(key)), spec.scheme, digest, signature);
}

const RSA_ENC_HASH: Readonly<Record<string, 'sha1' | 'sha256'>> = {
  'RSA-OAEP': 'sha1',
  'RSA-OAEP-256': 'sha256',
};

function rsaHash(key: StoredKeyVersion, alg: string): 'sha1' | 'sha256' {
  const hash = RSA_ENC_HASH[alg];
  if (alg === 'RSA1_5') {
    throw badParameter(
      'Algorithm RSA1_5 is not supported by this emulator (node:crypto refuses PKCS#1 v1.5 decryption).',
    );
  }
  if (!hash)
    throw badParameter(
      `Invalid algorithm: ${alg}. Supported values for RSA keys are RSA-OAEP, RSA-OAEP-256.`,
    );
  if (familyOf(key.kty) !== 'rsa') throw badParameter(`Algorithm ${alg} is not valid for a ${key.kty} key.`);
  return hash;
}

function rsaEncrypt(key: StoredKeyVersion, alg: string, value: Buffer): Buffer {
  const oaepHash = rsaHash(key, alg);
  try {
    return publicEncrypt(
      { key: createPublicKey(privateKeyOf(key)), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash },
      value,
    );
  } catch {
    throw badParameter(`The plaintext is too long for ${alg} with this key.`);
  }
}

function rsaDecrypt(key: StoredKeyVersion, alg: string, value: Buffer): Buffer {
  const oaepHash = rsaHash(key, alg);
  try {
    return privateDecrypt(
      { key: privateKeyOf(key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash },
      value,
    );
  } catch {
    throw badParameter(
      'Unable to decrypt the specified ciphertext: it was not encrypted with this key and algorithm.',
    );
  }
}

interface AesAlg {
  readonly mode: 'gcm' | 'cbc' | 'cbcpad' | 'kw' | 'kwp';
  /** Key size the algorithm needs; `undefined` for CKM_* algorithms that take the key's own size. */
  readonly bits?: number;
}

const AES_ALGS: Readonly<Record<string, AesAlg>> = {
  A128GCM: { mode: 'gcm', bits: 128 },
  A192GCM: { mode: 'gcm', bits: 192 },
  A256GCM: { mode: 'gcm', bits: 256 },
  A128CBC: { mode: 'cbc', bits: 128 },
  A192CBC: { mode: 'cbc', bits: 192 },
  A256CBC: { mode: 'cbc', bits: 256 },
  A128CBCPAD: { mode: 'cbcpad', bits: 128 },
  A192CBCPAD: { mode: 'cbcpad', bits: 192 },
  A256CBCPAD: { mode: 'cbcpad', bits: 256 },
  A128KW: { mode: 'kw', bits: 128 },
  A192KW: { mode: 'kw', bits: 192 },
  A256KW: { mode: 'kw', bits: 256 },
  CKM_AES_KEY_WRAP: { mode: 'kw' },
  CKM_AES_KEY_WRAP_PAD: { mode: 'kwp' },
};

function aesAlg(
  key: StoredKeyVersion,
  alg: string,
  modes: readonly AesAlg['mode'][],
): { spec: AesAlg; secret: Buffer } {
  const spec = AES_ALGS[alg];
  if (!spec || !modes.includes(spec.mode)) {
    const names = Object.entries(AES_ALGS)
      .filter(([, a]) => modes.includes(a.mode))
      .map(([n]) => n);
    throw badParameter(
      `Invalid algorithm: ${alg}. Supported values for this operation on oct keys are ${names.join(', ')}.`,
    );
  }
  if (familyOf(key.kty) !== 'oct') throw badParameter(`Algorithm ${alg} is not valid for a ${key.kty} key.`);
  const secret = secretOf(key);
  if (spec.bits !== undefined && spec.bits !== secret.length * 8) {
    throw badParameter(
      `Algorithm ${alg} needs a ${spec.bits}-bit key; this key is ${secret.length * 8}-bit.`,
    );
  }
  return { spec, secret };
}

function gcm(bits: number): CipherGCMTypes {
  return bits === 128 ? 'aes-128-gcm' : bits === 192 ? 'aes-192-gcm' : 'aes-256-gcm';
}

export interface CipherParams {
  readonly alg: string;
  readonly value: Buffer;
  readonly iv?: Buffer;
  readonly tag?: Buffer;
  readonly aad?: Buffer;
}

export interface CipherResult {
  readonly value: Buffer;
  readonly iv?: Buffer;
  readonly tag?: Buffer;
  readonly aad?: Buffer;
}

export function encrypt(key: StoredKeyVersion, p: CipherParams): CipherResult {
  if (familyOf(key.kty) === 'rsa') return { value: rsaEncrypt(key, p.alg, p.value) };
  const { spec, secret } = aesAlg(key, p.alg, ['gcm', 'cbc', 'cbcpad']);
  const bits = secret.length * 8;
  if (spec.mode === 'gcm') {
    // The service picks the GCM nonce; the SDK has no way to pass one.
    const iv = randomBytes(12);
    const c = createCipheriv(gcm(bits), secret, iv);
    if (p.aad) c.setAAD(p.aad);
    const value = Buffer.concat([c.update(p.value), c.final()]);
    return { value, iv, tag: c.getAuthTag(), ...(p.aad ? { aad: p.aad } : {}) };
  }
  if (p.iv?.length !== 16) throw badParameter(`${p.alg} needs a 16-byte 'iv'.`);
  if (spec.mode === 'cbc' && p.value.length % 16 !== 0) {
    throw badParameter(
      `${p.alg} has no padding: the plaintext must be a multiple of 16 bytes; use ${p.alg}PAD.`,
    );
  }
  const c = createCipheriv(`aes-${bits}-cbc`, secret, p.iv);
  c.setAutoPadding(spec.mode === 'cbcpad');
  return { value: Buffer.concat([c.update(p.value), c.final()]), iv: p.iv };
}

export function decrypt(key: StoredKeyVersion, p: CipherParams): CipherResult {
  if (familyOf(key.kty) === 'rsa') return { value: rsaDecrypt(key, p.alg, p.value) };
  const { spec, secret } = aesAlg(key, p.alg, ['gcm', 'cbc', 'cbcpad']);
  const bits = secret.length * 8;
  try {
    if (spec.mode === 'gcm') {
      if (!p.iv || !p.tag) throw badParameter(`${p.alg} decryption needs 'iv' and 'tag'.`);
      const d = createDecipheriv(gcm(bits), secret, p.iv);
      d.setAuthTag(p.tag);
      if (p.aad) d.setAAD(p.aad);
      return { value: Buffer.concat([d.update(p.value), d.final()]) };
    }
    if (p.iv?.length !== 16) throw badParameter(`${p.alg} needs a 16-byte 'iv'.`);
    const d = createDecipheriv(`aes-${bits}-cbc`, secret, p.iv);
    d.setAutoPadding(spec.mode === 'cbcpad');
    return { value: Buffer.concat([d.update(p.value), d.final()]) };
  } catch (err) {
    if (err instanceof Error && err.name === 'KeyVaultError') throw err;
    throw badParameter('Unable to decrypt the specified ciphertext: authentication or padding check failed.');
  }
}

const DEFAULT_KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const KWP_IV = Buffer.from('A65959A6', 'hex');

export function wrapKey(key: StoredKeyVersion, alg: string, value: Buffer): Buffer {
  if (familyOf(key.kty) === 'rsa') return rsaEncrypt(key, alg, value);
  const { spec, secret } = aesAlg(key, alg, ['kw', 'kwp']);
  const bits = secret.length * 8;
  if (spec.mode === 'kw' && (value.length < 16 || value.length % 8 !== 0)) {
    throw badParameter(`${alg} wraps keys of at least 16 bytes in multiples of 8; use CKM_AES_KEY_WRAP_PAD.`);
  }
  const c =
    spec.mode === 'kw'
      ? createCipheriv(`id-aes${bits}-wrap`, secret, DEFAULT_KW_IV)
      : createCipheriv(`id-aes${bits}-wrap-pad`, secret, KWP_IV);
  return Buffer.concat([c.update(value), c.final()]);
}

export function unwrapKey(key: StoredKeyVersion, alg: string, value: Buffer): Buffer {
  if (familyOf(key.kty) === 'rsa') return rsaDecrypt(key, alg, value);
  const { spec, secret } = aesAlg(key, alg, ['kw', 'kwp']);
  const bits = secret.length * 8;
  try {
    const d =
      spec.mode === 'kw'
        ? createDecipheriv(`id-aes${bits}-wrap`, secret, DEFAULT_KW_IV)
        : createDecipheriv(`id-aes${bits}-wrap-pad`, secret, KWP_IV);
    return Buffer.concat([d.update(value), d.final()]);
  } catch {
    throw badParameter('Unable to unwrap the specified key: integrity check failed.');
  }
}
