/**
 * Canonical JSON: the one byte string a value hashes to, whoever built it. Object keys sorted by UTF-16 code
 * units (as RFC 8785 does), no white space, properties whose value is `undefined` left out (so an absent
 * optional field and an explicit `undefined` hash the same), numbers as ECMAScript prints them.
 * Anything JSON cannot say faithfully (NaN, Infinity, -0, bigint, functions, class instances, undefined
 * inside arrays) is refused instead of being silently changed.
 */
import { ByokError } from '../errors.js';

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value) || Object.is(value, -0)) {
        throw new ByokError('CANONICAL_JSON', `${path}: ${String(value)} has no canonical JSON form`);
      }
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new ByokError('CANONICAL_JSON', `${path}: a ${typeof value} has no JSON form`);
  }
  if (Array.isArray(value)) {
    return `[${value.map((v, i) => (v === undefined ? fail(`${path}[${i}]`) : write(v, `${path}[${i}]`))).join(',')}]`;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new ByokError('CANONICAL_JSON', `${path}: only plain objects have a canonical JSON form`);
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k], `${path}.${k}`)}`).join(',')}}`;
}

function fail(path: string): never {
  throw new ByokError('CANONICAL_JSON', `${path}: undefined inside an array has no JSON form`);
}
