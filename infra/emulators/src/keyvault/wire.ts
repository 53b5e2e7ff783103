/** Request bodies of the Keys API, validated at the edge into the vault's typed inputs. */
import {
  asObject,
  BodyError,
  base64urlField,
  type JsonObject,
  optBoolean,
  optEnum,
  optInteger,
  optObject,
  optString,
  optStringArray,
  optStringMap,
  reqEnum,
  reqObject,
  reqString,
} from '../shared/validate.js';
import { CURVES, KEY_OPS, KEY_TYPES, type KeyOp, type KeyType } from './model.js';
import type { CipherParams } from './operations.js';
import type { CreateKeyInput, ImportKeyInput, KeyAttributesInput, UpdateKeyInput } from './vault.js';

function keyOps(o: JsonObject): KeyOp[] | undefined {
  const list = optStringArray(o, 'key_ops');
  if (list === undefined) return undefined;
  const unknown = list.filter((op) => !(KEY_OPS as readonly string[]).includes(op));
  if (unknown.length > 0) {
    throw new BodyError(
      `Unsupported key operation(s): ${unknown.map((u) => `"${u}"`).join(', ')}. ` +
        `Supported values are ${KEY_OPS.map((k) => `"${k}"`).join(', ')}.`,
    );
  }
  return list as KeyOp[];
}

function attributes(o: JsonObject): KeyAttributesInput | undefined {
  const a = optObject(o, 'attributes');
  if (!a) return undefined;
  const enabled = optBoolean(a, 'enabled');
  const nbf = optInteger(a, 'nbf');
  const exp = optInteger(a, 'exp');
  const exportable = optBoolean(a, 'exportable');
  return {
    ...(enabled === undefined ? {} : { enabled }),
    ...(nbf === undefined ? {} : { nbf }),
    ...(exp === undefined ? {} : { exp }),
    ...(exportable === undefined ? {} : { exportable }),
  };
}

export function parseCreate(body: unknown): CreateKeyInput {
  const o = asObject(body, 'the request body');
  const kty = reqEnum(o, 'kty', KEY_TYPES);
  const keySize = optInteger(o, 'key_size');
  const publicExponent = optInteger(o, 'public_exponent');
  const crv = optEnum(o, 'crv', CURVES);
  const ops = keyOps(o);
  const attrs = attributes(o);
  const tags = optStringMap(o, 'tags');
  return {
    kty,
    ...(keySize === undefined ? {} : { keySize }),
    ...(publicExponent === undefined ? {} : { publicExponent }),
    ...(crv === undefined ? {} : { crv }),
    ...(ops === undefined ? {} : { keyOps: ops }),
    ...(attrs === undefined ? {} : { attributes: attrs }),
    ...(tags === undefined ? {} : { tags }),
  };
}

const JWK_PRIVATE_FIELDS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'x', 'y', 'k', 'crv'] as const;

export function parseImport(body: unknown): ImportKeyInput {
  const o = asObject(body, 'the request body');
  const key = reqObject(o, 'key');
  let kty: KeyType = reqEnum(key, 'kty', KEY_TYPES);
  // `Hsm: true` asks for an HSM-protected key whatever kty says (older clients send kty RSA + Hsm).
  if (optBoolean(o, 'Hsm') === true && !kty.endsWith('-HSM')) kty = `${kty}-HSM` as KeyType;
  const crv = optEnum(key, 'crv', CURVES);
  const ops = keyOps(key);
  const keyHsm = optString(key, 'key_hsm');
  const jwk: Record<string, string> = {};
  for (const f of JWK_PRIVATE_FIELDS) {
    const v = optString(key, f);
    if (v !== undefined) jwk[f] = v;
  }
  const attrs = attributes(o);
  const tags = optStringMap(o, 'tags');
  return {
    kty,
    ...(crv === undefined ? {} : { crv }),
    ...(ops === undefined ? {} : { keyOps: ops }),
    ...(keyHsm === undefined ? { jwk } : { keyHsm }),
    ...(attrs === undefined ? {} : { attributes: attrs }),
    ...(tags === undefined ? {} : { tags }),
  };
}

export function parseUpdate(body: unknown): UpdateKeyInput {
  const o = asObject(body ?? {}, 'the request body');
  const ops = keyOps(o);
  const attrs = attributes(o);
  const tags = optStringMap(o, 'tags');
  return {
    ...(ops === undefined ? {} : { keyOps: ops }),
    ...(attrs === undefined ? {} : { attributes: attrs }),
    ...(tags === undefined ? {} : { tags }),
  };
}

function optB64u(o: JsonObject, key: string): Buffer | undefined {
  const v = optString(o, key);
  return v === undefined ? undefined : base64urlField(v, key);
}

export function parseCipher(body: unknown): CipherParams {
  const o = asObject(body, 'the request body');
  const alg = reqString(o, 'alg');
  const value = base64urlField(reqString(o, 'value'), 'value');
  const iv = optB64u(o, 'iv');
  const tag = optB64u(o, 'tag');
  const aad = optB64u(o, 'aad');
  return { alg, value, ...(iv ? { iv } : {}), ...(tag ? { tag } : {}), ...(aad ? { aad } : {}) };
}

export function parseSign(body: unknown): { alg: string; digest: Buffer } {
  const o = asObject(body, 'the request body');
  return { alg: reqString(o, 'alg'), digest: base64urlField(reqString(o, 'value'), 'value') };
}

export function parseVerify(body: unknown): { alg: string; digest: Buffer; signature: Buffer } {
  const o = asObject(body, 'the request body');
  return {
    alg: reqString(o, 'alg'),
    digest: base64urlField(reqString(o, 'digest'), 'digest'),
    signature: base64urlField(reqString(o, 'value'), 'value'),
  };
}
