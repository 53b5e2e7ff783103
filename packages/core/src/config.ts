/**
 * HsmConfig.ini: the whole input of a drop-in run, parsed and fully validated before any HSM is touched.
 *
 * The grammar is the original hsmbyok's (HsmSys::ReadIni on Linux), with its bugs fixed:
 * - `[byok]` section (white space in the brackets and letter case ignored); first `[byok]` block wins.
 * - `name = value`, names compared case-insensitively and ignoring white space; the first occurrence wins.
 * - `;` starts a comment, except inside double quotes (the original ended the line there).
 * - `"..."` is literal: no escapes, so `".\cryptoki.dll"` and `"C:\new\x.dll"` are what they say.
 * - white space inside unquoted values is kept (the original removed it); lines have no length limit
 *   (the original cut them at 255 bytes); CRLF, a UTF-8 BOM and UTF-16 (Notepad's "Unicode") are read.
 * - a line that is not a section, an entry, blank or a comment is an error naming the line (the original
 *   stopped reading there silently and reported every later key as missing).
 *
 * Why not the `ini` package's parser: it JSON-decodes quoted values (`".\cryptoki.dll"` keeps its quotes,
 * `"C:\new"` gains a newline), cuts unquoted values at `#`, keeps quotes when a comment follows them, lets
 * the last duplicate win and treats a BOM as part of the first key. The test suite uses it as an oracle
 * for plain files, where both grammars must agree.
 */
import { ByokError } from './errors.js';
import { describeKeySpec, keySpecWarnings, parseKeySpec } from './keyspec.js';
import { quoteValue } from './quote.js';
import {
  type HsmConfig,
  type IniEntry,
  type KeySpec,
  type OaepHash,
  type ParsedHsmConfig,
  TARGET_KEY_FLAGS,
  type TargetKeyFlag,
  type WrapMethod,
} from './types.js';

/** The `[byok]` keys in the order the original reads them and prints its `INFO: ReadIni:` lines. */
export const HSM_CONFIG_KEYS = [
  'libraryName',
  'tokenLabel',
  'wrappingCiphers',
  'SchemaVersion',
  'kid',
  'targetKeyName',
  'targetKeySpec',
  'targetKeyFlags',
] as const;
export type HsmConfigKey = (typeof HSM_CONFIG_KEYS)[number];

export const HSM_CONFIG_SECTION = 'byok';

/** `CKG_MGF1_*` spelling of each OAEP hash, strongest first: the original picks the first one listed here. */
export const MGF1_BY_HASH: Readonly<Record<OaepHash, string>> = {
  sha512: 'CKG_MGF1_SHA512',
  sha384: 'CKG_MGF1_SHA384',
  sha256: 'CKG_MGF1_SHA256',
  sha224: 'CKG_MGF1_SHA224',
  sha1: 'CKG_MGF1_SHA1',
};
const HASHES_STRONGEST_FIRST: readonly OaepHash[] = ['sha512', 'sha384', 'sha256', 'sha224', 'sha1'];

const ONE_STEP = 'CKM_RSA_AES_KEY_WRAP';
/** Checked in this order, as the original does: the v3.0 name wins when both are listed. */
const KWP_NAMES = ['CKM_AES_KEY_WRAP_KWP', 'CKM_AES_KWP'] as const;
export const WRAPPING_CIPHERS: readonly string[] = [
  ONE_STEP,
  ...KWP_NAMES,
  ...HASHES_STRONGEST_FIRST.map((h) => MGF1_BY_HASH[h]),
];

/** PKCS#11 token labels are 32 bytes, space padded; a longer one can match no token. */
const TOKEN_LABEL_MAX_BYTES = 32;

type Line =
  | { readonly kind: 'blank' }
  | { readonly kind: 'section'; readonly name: string }
  | { readonly kind: 'entry'; readonly key: string; readonly value: string };

interface RawEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

class LineSyntaxError extends Error {}

/** Case and white space never matter in section and key names (the original dropped all white space). */
function normalizeName(name: string): string {
  return name.replace(/\s+/g, '').toLowerCase();
}

function parseLine(line: string): Line {
  const text = line.trim();
  if (text === '' || text.startsWith(';') || text.startsWith('#')) return { kind: 'blank' };

  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new LineSyntaxError("section header without ']'");
    const name = text.slice(1, close);
    if (name.includes('[')) throw new LineSyntaxError("'[' inside a section header");
    const rest = text.slice(close + 1).trim();
    if (rest !== '' && !rest.startsWith(';')) {
      throw new LineSyntaxError(`text after the section header: ${quoteValue(rest)}`);
    }
    return { kind: 'section', name: normalizeName(name) };
  }

  const eq = text.indexOf('=');
  const semicolon = text.indexOf(';');
  if (eq < 0 || (semicolon >= 0 && semicolon < eq)) {
    throw new LineSyntaxError("expected 'name = value', a '[section]' header or a ';' comment");
  }
  const key = text.slice(0, eq).trim();
  if (key === '') throw new LineSyntaxError("no name before '='");
  if (/["[\]]/.test(key)) throw new LineSyntaxError(`invalid name ${quoteValue(key)}`);
  return { kind: 'entry', key, value: parseValue(text.slice(eq + 1)) };
}

/** Unquoted text up to a `;`, then optionally one `"..."` that runs literally to its closing quote. */
function parseValue(raw: string): string {
  let unquoted = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === ';') break;
    if (c === '"') {
      const close = raw.indexOf('"', i + 1);
      if (close < 0) throw new LineSyntaxError('unterminated double quote');
      const rest = raw.slice(close + 1).trim();
      if (rest !== '' && !rest.startsWith(';')) {
        throw new LineSyntaxError(`text after the closing quote: ${quoteValue(rest)}`);
      }
      return unquoted.trimStart() + raw.slice(i + 1, close);
    }
    unquoted += c;
  }
  return unquoted.trim();
}

/** Bytes as the file holds them: UTF-16 with a BOM (Notepad's "Unicode") or UTF-8 with or without one. */
function decodeText(input: string | Buffer): string {
  if (typeof input !== 'string') {
    if (input[0] === 0xff && input[1] === 0xfe) return input.subarray(2).toString('utf16le');
    input = input.toString('utf8');
  }
  return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
}

interface Sections {
  /** Entries of the first `[byok]` block, or undefined when there is none. */
  readonly byok: RawEntry[] | undefined;
  readonly warnings: string[];
}

function readSections(text: string, source: string): Sections {
  const lines = text.split(/\r\n|\r|\n/);
  const warnings: string[] = [];
  let byok: RawEntry[] | undefined;
  let inByok = false;
  let byokDone = false;
  lines.forEach((line, index) => {
    const lineNo = index + 1;
    let parsed: Line;
    try {
      parsed = parseLine(line);
    } catch (e) {
      if (!(e instanceof LineSyntaxError)) throw e;
      throw new ByokError(
        'CKR_ARGUMENTS_BAD',
        `${source} line ${lineNo}: ${e.message} in ${quoteValue(line.trim())}`,
      );
    }
    if (parsed.kind === 'section') {
      if (inByok) byokDone = true;
      inByok = parsed.name === HSM_CONFIG_SECTION;
      if (inByok && byokDone) {
        warnings.push(
          `${source} line ${lineNo}: a second [${HSM_CONFIG_SECTION}] section is ignored; only the first is read`,
        );
        inByok = false;
      } else if (inByok) {
        byok = [];
      }
    } else if (parsed.kind === 'entry' && inByok && byok) {
      byok.push({ key: parsed.key, value: parsed.value, line: lineNo });
    }
  });
  return { byok, warnings };
}

function fail(source: string, key: string, message: string): ByokError {
  return new ByokError('CKR_ARGUMENTS_BAD', `${source} [${HSM_CONFIG_SECTION}] ${key}: ${message}`);
}

function listTokens(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .filter((t) => t !== '')
    .map((t) => t.toUpperCase());
}

interface Wrapping {
  readonly ciphers: readonly string[];
  readonly method: WrapMethod;
  readonly warnings: string[];
}

function parseWrappingCiphers(value: string, source: string): Wrapping {
  const ciphers = listTokens(value);
  const unknown = ciphers.find((c) => !WRAPPING_CIPHERS.includes(c));
  if (unknown !== undefined) {
    throw fail(
      source,
      'wrappingCiphers',
      `unknown cipher ${quoteValue(unknown)}; allowed: ${WRAPPING_CIPHERS.join(', ')}`,
    );
  }
  const hashes = HASHES_STRONGEST_FIRST.filter((h) => ciphers.includes(MGF1_BY_HASH[h]));
  const oaepHash = hashes[0];
  if (oaepHash === undefined) {
    throw new ByokError(
      'CKR_MECHANISM_INVALID',
      `${source} [${HSM_CONFIG_SECTION}] wrappingCiphers: no OAEP hash in ${quoteValue(value)}; ` +
        `allowed: ${HASHES_STRONGEST_FIRST.map((h) => MGF1_BY_HASH[h]).join(', ')} (Azure requires CKG_MGF1_SHA1)`,
    );
  }
  const warnings: string[] = [];
  if (hashes.length > 1) {
    // Kept for drop-in compatibility: the original silently takes the strongest hash listed.
    warnings.push(
      `wrappingCiphers lists ${hashes.map((h) => MGF1_BY_HASH[h]).join(', ')}: using ${MGF1_BY_HASH[oaepHash]}, ` +
        'the strongest, as the original hsmbyok does; Azure Key Vault requires CKG_MGF1_SHA1, so list only that for Azure',
    );
  } else if (oaepHash !== 'sha1' && oaepHash !== 'sha256') {
    warnings.push(
      `wrappingCiphers: ${MGF1_BY_HASH[oaepHash]} is accepted by no cloud KMS (Azure requires CKG_MGF1_SHA1, ` +
        'AWS KMS takes CKG_MGF1_SHA1 or CKG_MGF1_SHA256)',
    );
  }
  if (ciphers.includes(ONE_STEP)) {
    return { ciphers, method: { kind: 'one-step', oaepHash }, warnings };
  }
  const kwpName = KWP_NAMES.find((k) => ciphers.includes(k));
  if (kwpName === undefined) {
    // The original reported this as CKR_MECHANISM_INVALID too, but only mid-run, after generating the key.
    throw new ByokError(
      'CKR_MECHANISM_INVALID',
      `${source} [${HSM_CONFIG_SECTION}] wrappingCiphers: no wrap mechanism in ${quoteValue(value)}; ` +
        `allowed: ${ONE_STEP} (one step) or ${KWP_NAMES.join(' or ')} (two steps)`,
    );
  }
  return { ciphers, method: { kind: 'two-step', oaepHash, kwpName }, warnings };
}

function parseFlags(value: string, source: string): Set<TargetKeyFlag> {
  const flags = new Set<TargetKeyFlag>();
  for (const token of listTokens(value)) {
    const flag = TARGET_KEY_FLAGS.find((f) => f === token);
    if (flag === undefined) {
      // The original ignored unknown words: `CKF_EXTRACTABL` silently made a key that can never leave the HSM.
      throw fail(
        source,
        'targetKeyFlags',
        `unknown flag ${quoteValue(token)}; allowed: ${TARGET_KEY_FLAGS.join(', ')}`,
      );
    }
    flags.add(flag);
  }
  return flags;
}

/** Usages a key of this type cannot have in PKCS#11, or that no cloud imports it for. */
const POINTLESS_FLAGS: Readonly<Record<KeySpec['kind'], readonly TargetKeyFlag[]>> = {
  rsa: ['CKF_DERIVE'],
  ec: ['CKF_ENCRYPT', 'CKF_DECRYPT', 'CKF_WRAP', 'CKF_UNWRAP', 'CKF_SIGN_RECOVER', 'CKF_VERIFY_RECOVER'],
  aes: ['CKF_SIGN', 'CKF_VERIFY', 'CKF_SIGN_RECOVER', 'CKF_VERIFY_RECOVER'],
  hmac: ['CKF_ENCRYPT', 'CKF_DECRYPT', 'CKF_WRAP', 'CKF_UNWRAP', 'CKF_SIGN_RECOVER', 'CKF_VERIFY_RECOVER'],
};

function flagWarnings(spec: KeySpec, flags: ReadonlySet<TargetKeyFlag>): string[] {
  const warnings: string[] = [];
  const pointless = POINTLESS_FLAGS[spec.kind].filter((f) => flags.has(f));
  if (pointless.length > 0) {
    warnings.push(
      `targetKeyFlags: ${pointless.join(', ')} make${pointless.length === 1 ? 's' : ''} no sense for an ` +
        `${describeKeySpec(spec)} key; the HSM may refuse to generate it or the cloud ignore the usage`,
    );
  }
  if (!flags.has('CKF_EXTRACTABLE')) {
    warnings.push(
      'targetKeyFlags: no CKF_EXTRACTABLE: a key generated from this config has CKA_EXTRACTABLE=false ' +
        'and can never be wrapped for import',
    );
  }
  if (!flags.has('CKF_TOKEN')) {
    warnings.push(
      'targetKeyFlags: no CKF_TOKEN: a key generated from this config is a session object and vanishes ' +
        'when the run ends, leaving a cloud key with no HSM copy',
    );
  }
  return warnings;
}

/**
 * Parses and validates HsmConfig.ini. Every problem is a ByokError (CKR_ARGUMENTS_BAD, or
 * CKR_MECHANISM_INVALID when wrappingCiphers names no OAEP hash or no wrap mechanism, as in the original)
 * with one line naming the key, the bad value and what is allowed.
 */
export function parseHsmConfig(text: string | Buffer, opts?: { source?: string }): ParsedHsmConfig {
  const source = opts?.source ?? 'HsmConfig.ini';
  const sections = readSections(decodeText(text), source);
  const warnings = [...sections.warnings];
  if (!sections.byok) {
    throw new ByokError(
      'CKR_ARGUMENTS_BAD',
      `${source}: no [${HSM_CONFIG_SECTION}] section; it must hold ${HSM_CONFIG_KEYS.join(', ')}`,
    );
  }

  const found = new Map<HsmConfigKey, RawEntry>();
  for (const entry of sections.byok) {
    const key = HSM_CONFIG_KEYS.find((k) => k.toLowerCase() === normalizeName(entry.key));
    if (key === undefined) {
      warnings.push(
        `${source} line ${entry.line}: unknown key ${quoteValue(entry.key)} in [byok] is ignored`,
      );
    } else if (found.has(key)) {
      warnings.push(
        `${source} line ${entry.line}: ${key} is given again and ignored; the first one ` +
          `(line ${found.get(key)?.line}) is used, as the original does`,
      );
    } else {
      found.set(key, entry);
    }
  }
  const missing = HSM_CONFIG_KEYS.filter((k) => !found.has(k));
  if (missing.length > 0) {
    throw new ByokError(
      'CKR_ARGUMENTS_BAD',
      `${source} [${HSM_CONFIG_SECTION}] ${missing.join(', ')}: missing; all of ${HSM_CONFIG_KEYS.join(', ')} are required`,
    );
  }

  const entries: IniEntry[] = HSM_CONFIG_KEYS.map((name) => ({ name, value: found.get(name)?.value ?? '' }));
  const value = (key: HsmConfigKey): string => {
    const v = found.get(key)?.value ?? '';
    if (v === '') throw fail(source, key, "empty value ''; a value is required");
    if (v.includes('\ufffd')) {
      throw fail(source, key, `${quoteValue(v)} is not valid UTF-8; save ${source} as UTF-8`);
    }
    return v;
  };

  const libraryName = value('libraryName');
  const tokenLabel = value('tokenLabel');
  const labelBytes = Buffer.byteLength(tokenLabel, 'utf8');
  if (labelBytes > TOKEN_LABEL_MAX_BYTES) {
    throw fail(
      source,
      'tokenLabel',
      `${quoteValue(tokenLabel)} is ${labelBytes} bytes; allowed: at most ${TOKEN_LABEL_MAX_BYTES} bytes (a PKCS#11 token label)`,
    );
  }
  const wrapping = parseWrappingCiphers(value('wrappingCiphers'), source);
  const schemaVersion = value('SchemaVersion');
  const kid = value('kid');
  const targetKeyName = value('targetKeyName');
  let targetKeySpec: KeySpec;
  try {
    targetKeySpec = parseKeySpec(value('targetKeySpec'));
  } catch (e) {
    if (!(e instanceof ByokError) || e.message.startsWith(source)) throw e;
    throw new ByokError(e.code, `${source} [${HSM_CONFIG_SECTION}] ${e.message}`, { cause: e });
  }
  const targetKeyFlags = parseFlags(value('targetKeyFlags'), source);

  warnings.push(
    ...wrapping.warnings,
    ...keySpecWarnings(targetKeySpec),
    ...flagWarnings(targetKeySpec, targetKeyFlags),
  );
  const config: HsmConfig = {
    libraryName,
    tokenLabel,
    wrappingCiphers: wrapping.ciphers,
    wrapMethod: wrapping.method,
    schemaVersion,
    kid,
    targetKeyName,
    targetKeySpec,
    targetKeyFlags,
  };
  return { config, entries, warnings };
}
