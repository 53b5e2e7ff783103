/**
 * Property tests: whatever a custodian's editor, e-mail client or disk does to HsmConfig.ini, kekBlob.pem or
 * a .byok file, the parsers either return a well-formed typed value or throw ByokError with a one-line
 * message. Any other exception (TypeError, RangeError, a raw OpenSSL error) fails the property.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeByokBlob, encodeByokBlob } from '../src/byok-blob.js';
import { HSM_CONFIG_KEYS, parseHsmConfig } from '../src/config.js';
import { ByokError } from '../src/errors.js';
import { parseKekPem, publicKeyToPem } from '../src/kek.js';
import { parseKeySpec } from '../src/keyspec.js';
import { parseKeyMaterial, toPkcs8Der } from '../src/material.js';
import { TARGET_KEY_FLAGS } from '../src/types.js';
import { OAEP_HASHES, rsaAesKeyUnwrap, rsaAesKeyWrap } from '../src/wrap.js';
import { ecKeyPair, rsaKeyPair } from './keys.js';

const VALID_INI = [
  '; HsmConfig.ini',
  '[byok]',
  'libraryName = "/usr/lib/softhsm/libsofthsm2.so"',
  'tokenLabel = "byok"',
  'wrappingCiphers = CKG_MGF1_SHA1, CKM_RSA_AES_KEY_WRAP, CKM_AES_KWP',
  'SchemaVersion = "1.0.0"',
  'kid = "https://v.vault.azure.net/keys/kek/0123"',
  'targetKeyName = "target-1"',
  'targetKeySpec = CKK_EC, 384, "P-384"',
  'targetKeyFlags = CKF_SIGN, CKF_VERIFY, CKF_TOKEN, CKF_EXTRACTABLE, CKF_CREATE_IF_NOT_FOUND',
  '',
].join('\r\n');

/** Characters that matter to the grammar, weighted so mutations hit them often. */
const SPECIAL = [
  '"',
  ';',
  '#',
  '=',
  '[',
  ']',
  ',',
  ':',
  ' ',
  '\t',
  '\r',
  '\n',
  '\ufeff',
  '\\',
  '\u0000',
  'é',
  '\ud83d\ude00',
];

const fragment = fc.oneof(
  fc.constantFrom(...SPECIAL),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom(
    ...HSM_CONFIG_KEYS,
    ...TARGET_KEY_FLAGS,
    'CKG_MGF1_SHA256',
    'CKK_RSA',
    '4096',
    'P-521',
    '[byok]',
  ),
);

type Mutation =
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; length: number }
  | { op: 'replaceLine'; line: number; text: string }
  | { op: 'duplicateLine'; line: number }
  | { op: 'swapCase'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fragment }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('replaceLine' as const), line: fc.nat(), text: fragment }),
  fc.record({ op: fc.constant('duplicateLine' as const), line: fc.nat() }),
  fc.record({ op: fc.constant('swapCase' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 30 }) }),
);

function mutate(text: string, mutations: readonly Mutation[]): string {
  let t = text;
  for (const m of mutations) {
    const at = t.length === 0 ? 0 : ('at' in m ? m.at : 0) % (t.length + 1);
    const lines = t.split('\n');
    switch (m.op) {
      case 'insert':
        t = t.slice(0, at) + m.text + t.slice(at);
        break;
      case 'delete':
        t = t.slice(0, at) + t.slice(at + m.length);
        break;
      case 'replaceLine':
        lines[m.line % lines.length] = m.text;
        t = lines.join('\n');
        break;
      case 'duplicateLine': {
        const i = m.line % lines.length;
        lines.splice(i, 0, lines[i] ?? '');
        t = lines.join('\n');
        break;
      }
      case 'swapCase': {
        const part = t.slice(at, at + m.length);
        const swapped = [...part]
          .map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()))
          .join('');
        t = t.slice(0, at) + swapped + t.slice(at + m.length);
        break;
      }
    }
  }
  return t;
}

/** Runs a parser; returns its value or undefined when it threw a proper ByokError; rethrows anything else. */
function parsedOrByokError<T>(fn: () => T, codes: readonly string[]): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof ByokError)) throw e;
    expect(codes).toContain(e.code);
    expect(e.message).not.toMatch(/[\r\n]/);
    expect(e.message.length).toBeLessThan(1200);
    return undefined;
  }
}

describe('HsmConfig.ini fuzz', () => {
  it('mutated files give a typed config or a ByokError, nothing else', () => {
    let parsedCount = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
        const text = mutate(VALID_INI, mutations);
        const result = parsedOrByokError(
          () => parseHsmConfig(text),
          ['CKR_ARGUMENTS_BAD', 'CKR_MECHANISM_INVALID'],
        );
        if (!result) return;
        parsedCount++;
        const { config, entries, warnings } = result;
        expect(entries.map((e) => e.name)).toEqual([...HSM_CONFIG_KEYS]);
        for (const e of entries) expect(e.value.length, e.name).toBeGreaterThan(0);
        for (const v of [
          config.libraryName,
          config.tokenLabel,
          config.kid,
          config.schemaVersion,
          config.targetKeyName,
        ]) {
          expect(v.length).toBeGreaterThan(0);
        }
        expect(Buffer.byteLength(config.tokenLabel)).toBeLessThanOrEqual(32);
        expect(OAEP_HASHES).toContain(config.wrapMethod.oaepHash);
        for (const f of config.targetKeyFlags) expect(TARGET_KEY_FLAGS).toContain(f);
        expect(['rsa', 'ec', 'aes']).toContain(config.targetKeySpec.kind);
        for (const w of warnings) expect(w).not.toMatch(/[\r\n]/);
        // Same bytes, same answer: parsing has no hidden state.
        expect(parseHsmConfig(text)).toEqual(result);
      }),
      { numRuns: 2000 },
    );
    // Many mutations keep the file valid (comments, spacing, case); if none parse, the property is hollow.
    expect(parsedCount).toBeGreaterThan(100);
  });

  it('random text and random bytes give a ByokError', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), fc.uint8Array({ maxLength: 400 })),
        (input) => {
          const bytes = typeof input === 'string' ? input : Buffer.from(input);
          parsedOrByokError(() => parseHsmConfig(bytes), ['CKR_ARGUMENTS_BAD', 'CKR_MECHANISM_INVALID']);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('any value written quoted comes back exactly (no escapes, ; and spaces kept)', () => {
    const literal = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 60 })
      .filter((s) => !/["\r\n\ufffd]/.test(s) && !/[\ud800-\udfff]/.test(s));
    fc.assert(
      fc.property(literal, literal, literal, (kid, name, library) => {
        const text = VALID_INI.replace(/^kid = .*$/m, `kid = "${kid}"`)
          .replace(/^targetKeyName = .*$/m, `targetKeyName = "${name}" ; trailing comment`)
          .replace(/^libraryName = .*$/m, `LIBRARYNAME="${library}"`);
        const { config } = parseHsmConfig(text);
        expect(config.kid).toBe(kid);
        expect(config.targetKeyName).toBe(name);
        expect(config.libraryName).toBe(library);
      }),
      { numRuns: 500 },
    );
  });
});

describe('key spec fuzz', () => {
  it('any string gives a KeySpec or a ByokError', () => {
    const parts = fc.oneof(
      fragment,
      fc.constantFrom('CKK_EC', 'CKK_AES', 'none', 'P-256K', '256', '521', '192'),
    );
    fc.assert(
      fc.property(fc.array(parts, { maxLength: 5 }), fc.constantFrom(', ', ',', ' ', ':'), (items, sep) => {
        const spec = parsedOrByokError(() => parseKeySpec(items.join(sep)), ['CKR_ARGUMENTS_BAD']);
        if (spec?.kind === 'ec') expect(spec.curve.bits).toBe(spec.bits);
      }),
      { numRuns: 500 },
    );
  });
});

const KEK_CODES = ['CKR_FILE_IO', 'CKR_KEY_TYPE_INCONSISTENT', 'CKR_WRAPPING_KEY_SIZE_RANGE'];

describe('kekBlob.pem fuzz', () => {
  let pem = '';
  beforeAll(async () => {
    pem = publicKeyToPem((await rsaKeyPair(2048)).publicKey);
  }, 60_000);

  it('mutated PEMs give a valid Kek or a ByokError', () => {
    const pemMutation: fc.Arbitrary<Mutation> = fc.oneof(
      mutation,
      fc.record({
        op: fc.constant('insert' as const),
        at: fc.nat(),
        text: fc.constantFrom('A', '/', '+', '=', '-', '\r'),
      }),
    );
    fc.assert(
      fc.property(fc.array(pemMutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const text = mutate(pem, mutations);
        const kek = parsedOrByokError(() => parseKekPem(text), KEK_CODES);
        if (!kek) return;
        expect(kek.modulusBits).toBeGreaterThanOrEqual(2048);
        expect(kek.fingerprint).toMatch(/^[0-9a-f]{64}$/);
        expect(kek.publicKey.asymmetricKeyType).toBe('rsa');
      }),
      { numRuns: 1000 },
    );
  });

  it('random bytes give a ByokError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const wrapped = Buffer.concat([
          Buffer.from('-----BEGIN PUBLIC KEY-----\n'),
          Buffer.from(Buffer.from(bytes).toString('base64')),
          Buffer.from('\n-----END PUBLIC KEY-----\n'),
        ]);
        expect(parsedOrByokError(() => parseKekPem(wrapped), KEK_CODES)).toBeUndefined();
        parsedOrByokError(() => parseKekPem(Buffer.from(bytes)), KEK_CODES);
      }),
      { numRuns: 300 },
    );
  });
});

describe('.byok and unwrap fuzz', () => {
  it('mutated .byok files give a ByokBlob or a ByokError', () => {
    const text = encodeByokBlob({
      schemaVersion: '1.0.0',
      kid: 'https://v.vault.azure.net/keys/kek/0123',
      enc: 'CKM_RSA_AES_KEY_WRAP',
      ciphertext: randomBytes(300),
      generator: 'hsmbyok 1.0.0.3; byok 2.6',
    });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const blob = parsedOrByokError(() => decodeByokBlob(mutate(text, mutations)), ['CKR_ARGUMENTS_BAD']);
        if (blob) expect(blob.ciphertext.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it('altered wrapped keys and key material never escape as raw crypto errors', async () => {
    const kek = await rsaKeyPair(2048);
    const target = toPkcs8Der((await ecKeyPair('prime256v1')).privateKey);
    const wrapped = rsaAesKeyWrap(kek.publicKey, target, { oaepHash: 'sha1' });
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(), (at, xor, cut) => {
        const altered = Buffer.from(wrapped);
        const i = at % altered.length;
        altered[i] = (altered[i] ?? 0) ^ xor;
        // Flipping any bit must be detected: OAEP or the KWP integrity check rejects it.
        expect(
          parsedOrByokError(
            () => rsaAesKeyUnwrap(kek.privateKey, altered, { oaepHash: 'sha1' }),
            ['CKR_WRAPPED_KEY_INVALID'],
          ),
        ).toBeUndefined();
        const material = Buffer.from(target.subarray(0, cut % (target.length + 1)));
        if (material.length > 0) material[at % material.length] = (material[at % material.length] ?? 0) ^ xor;
        parsedOrByokError(
          () => parseKeyMaterial(material, 'ec'),
          ['CKR_WRAPPED_KEY_INVALID', 'CKR_KEY_TYPE_INCONSISTENT', 'CKR_CURVE_NOT_SUPPORTED'],
        );
      }),
      { numRuns: 300 },
    );
  });
});
