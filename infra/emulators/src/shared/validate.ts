/**
 * Edge validation of request bodies. Every check throws a BodyError whose message is one line naming the
 * field, which each emulator turns into its service's own error shape (Key Vault BadParameter, KMS
 * ValidationException).
 */

export class BodyError extends Error {
  override readonly name = 'BodyError';
}

export type JsonObject = Record<string, unknown>;

export function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new BodyError('the request body is not valid JSON');
  }
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asObject(value: unknown, what: string): JsonObject {
  if (!isObject(value)) throw new BodyError(`${what} must be a JSON object`);
  return value;
}

export function optObject(o: JsonObject, key: string): JsonObject | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return asObject(v, `'${key}'`);
}

export function reqObject(o: JsonObject, key: string): JsonObject {
  const v = optObject(o, key);
  if (v === undefined) throw new BodyError(`'${key}' is required`);
  return v;
}

export function optString(o: JsonObject, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new BodyError(`'${key}' must be a string`);
  return v;
}

export function reqString(o: JsonObject, key: string): string {
  const v = optString(o, key);
  if (v === undefined || v === '') throw new BodyError(`'${key}' is required`);
  return v;
}

export function optNumber(o: JsonObject, key: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BodyError(`'${key}' must be a number`);
  return v;
}

export function optInteger(o: JsonObject, key: string): number | undefined {
  const v = optNumber(o, key);
  if (v !== undefined && !Number.isInteger(v)) throw new BodyError(`'${key}' must be an integer`);
  return v;
}

export function optBoolean(o: JsonObject, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new BodyError(`'${key}' must be true or false`);
  return v;
}

export function optStringArray(o: JsonObject, key: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string')) {
    throw new BodyError(`'${key}' must be an array of strings`);
  }
  return v;
}

export function optStringMap(o: JsonObject, key: string): Record<string, string> | undefined {
  const v = optObject(o, key);
  if (v === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new BodyError(`'${key}.${k}' must be a string`);
    out[k] = x;
  }
  return out;
}

export function optEnum<T extends string>(o: JsonObject, key: string, values: readonly T[]): T | undefined {
  const v = optString(o, key);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    throw new BodyError(`'${key}' must be one of ${values.join(', ')}; got '${v}'`);
  }
  return v as T;
}

export function reqEnum<T extends string>(o: JsonObject, key: string, values: readonly T[]): T {
  const v = optEnum(o, key, values);
  if (v === undefined) throw new BodyError(`'${key}' is required (one of ${values.join(', ')})`);
  return v;
}

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Key Vault sends binary fields as base64url without padding. */
export function base64urlField(value: string, key: string): Buffer {
  if (!BASE64URL.test(value)) throw new BodyError(`'${key}' must be base64url`);
  return Buffer.from(value, 'base64url');
}

/** AWS JSON 1.1 sends blobs as standard base64. */
export function base64Field(value: string, key: string): Buffer {
  const compact = value.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) throw new BodyError(`'${key}' must be base64`);
  return Buffer.from(compact, 'base64');
}
