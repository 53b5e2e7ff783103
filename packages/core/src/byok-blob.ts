/**
 * The `.byok` file (targetBlob.byok): the JSON Azure's BYOK import reads, in the original hsmbyok's exact
 * layout so diffs against its output stay empty. The one change: strings are JSON-escaped (the original
 * wrote kid and SchemaVersion raw, so a quote or backslash in them produced invalid JSON).
 */
import { ByokError } from './errors.js';
import { asText, quoteValue, stripBom } from './quote.js';

export interface ByokBlob {
  readonly schemaVersion: string;
  readonly kid: string;
  readonly enc: 'CKM_RSA_AES_KEY_WRAP';
  /** RSA-OAEP(KEK, ephemeral AES key) || AES-KWP(ephemeral, target). */
  readonly ciphertext: Buffer;
  /** `<tool> <version>; <token label> <firmware>`. */
  readonly generator: string;
}

/** RFC 4648 s5 without padding, as Azure's spec and the original write it. */
export function base64url(buf: Buffer): string {
  return buf.toString('base64url');
}

/**
 * Strict decoder: Buffer.from(s, 'base64url') silently skips characters it does not know, which would turn
 * a damaged blob into different bytes instead of an error. Padding is tolerated (other tools write it).
 */
export function fromBase64url(s: string): Buffer {
  const body = s.endsWith('==') ? s.slice(0, -2) : s.endsWith('=') ? s.slice(0, -1) : s;
  if (!/^[A-Za-z0-9_-]*$/.test(body) || body.length % 4 === 1) {
    throw new ByokError('CKR_ARGUMENTS_BAD', `${quoteValue(s)} is not base64url (RFC 4648 s5)`);
  }
  return Buffer.from(body, 'base64url');
}

/**
 * Byte-for-byte the original's layout (it streamed lines with std::endl): two-space indent, `"header":`
 * alone on its line with the brace below it, and a final newline.
 */
export function encodeByokBlob(blob: ByokBlob): string {
  const s = JSON.stringify;
  return [
    '{',
    `  "schema_version": ${s(blob.schemaVersion)},`,
    '  "header":',
    '  {',
    `    "kid": ${s(blob.kid)},`,
    '    "alg": "dir",',
    `    "enc": ${s(blob.enc)}`,
    '  },',
    `  "ciphertext": ${s(base64url(blob.ciphertext))},`,
    `  "generator": ${s(blob.generator)}`,
    '}',
    '',
  ].join('\n');
}

function bad(problem: string): ByokError {
  return new ByokError('CKR_ARGUMENTS_BAD', `.byok blob: ${problem}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireString(obj: Record<string, unknown>, key: string, where: string): string {
  const value = obj[key];
  if (typeof value !== 'string') {
    throw bad(
      `${where}${key} is ${value === undefined ? 'missing' : `a ${typeof value}`}; it must be a string`,
    );
  }
  return value;
}

/** Reads any `.byok` JSON (ours, the original's, Azure's own tools'); layout and key order do not matter. */
export function decodeByokBlob(text: string | Buffer): ByokBlob {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripBom(asText(text)));
  } catch (cause) {
    throw new ByokError('CKR_ARGUMENTS_BAD', '.byok blob: not valid JSON', { cause });
  }
  if (!isRecord(parsed)) throw bad('the top level must be a JSON object');
  const schemaVersion = requireString(parsed, 'schema_version', '');
  const header = parsed.header;
  if (!isRecord(header)) throw bad('header is missing or not an object');
  const kid = requireString(header, 'kid', 'header.');
  const alg = requireString(header, 'alg', 'header.');
  if (alg !== 'dir') throw bad(`header.alg is ${quoteValue(alg)}; it must be 'dir'`);
  const enc = requireString(header, 'enc', 'header.');
  if (enc !== 'CKM_RSA_AES_KEY_WRAP') {
    throw bad(`header.enc is ${quoteValue(enc)}; it must be 'CKM_RSA_AES_KEY_WRAP'`);
  }
  const ciphertextText = requireString(parsed, 'ciphertext', '');
  let ciphertext: Buffer;
  try {
    ciphertext = fromBase64url(ciphertextText);
  } catch (cause) {
    throw new ByokError('CKR_ARGUMENTS_BAD', '.byok blob: ciphertext is not base64url', { cause });
  }
  if (ciphertext.length === 0) throw bad('ciphertext is empty');
  // Azure's spec marks generator optional; the original always writes it.
  const generator = parsed.generator === undefined ? '' : requireString(parsed, 'generator', '');
  return { schemaVersion, kid, enc, ciphertext, generator };
}
