import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ByokBlob, base64url, decodeByokBlob, encodeByokBlob, fromBase64url } from '../src/byok-blob.js';
import { ByokError } from '../src/errors.js';
import { thrown } from './keys.js';

const blob: ByokBlob = {
  schemaVersion: '1.0.0',
  kid: 'https://myvault.vault.azure.net/keys/mykek/0123456789abcdef0123456789abcdef',
  enc: 'CKM_RSA_AES_KEY_WRAP',
  ciphertext: Buffer.from([0xfb, 0xff, 0xbf, 0x00, 0x01]),
  generator: 'hsmbyok 1.0.0.3; byok 2.6',
};

function blobError(text: string): ByokError {
  const e = thrown(() => decodeByokBlob(text));
  expect(e).toBeInstanceOf(ByokError);
  expect((e as ByokError).code).toBe('CKR_ARGUMENTS_BAD');
  expect((e as ByokError).message).toMatch(/^\.byok blob: /);
  return e as ByokError;
}

describe('base64url', () => {
  it('encodes without padding using - and _', () => {
    expect(base64url(Buffer.from([0xfb, 0xff, 0xbf]))).toBe('-_-_');
    expect(base64url(Buffer.from([0xff]))).toBe('_w');
    expect(base64url(Buffer.alloc(0))).toBe('');
  });

  it('decodes strictly, tolerating padding', () => {
    for (let n = 0; n < 40; n++) {
      const b = randomBytes(n);
      expect(fromBase64url(base64url(b)).equals(b)).toBe(true);
    }
    expect(fromBase64url('_w==').equals(Buffer.from([0xff]))).toBe(true);
    for (const bad of ['ab+c', 'ab/c', 'a b', 'abcde', 'ab.c', 'a===', '====']) {
      const e = thrown(() => fromBase64url(bad));
      expect(e, bad).toBeInstanceOf(ByokError);
    }
  });
});

describe('encodeByokBlob', () => {
  it("writes the original's exact layout", () => {
    expect(encodeByokBlob(blob)).toBe(
      [
        '{',
        '  "schema_version": "1.0.0",',
        '  "header":',
        '  {',
        '    "kid": "https://myvault.vault.azure.net/keys/mykek/0123456789abcdef0123456789abcdef",',
        '    "alg": "dir",',
        '    "enc": "CKM_RSA_AES_KEY_WRAP"',
        '  },',
        '  "ciphertext": "-_-_AAE",',
        '  "generator": "hsmbyok 1.0.0.3; byok 2.6"',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('escapes what the original wrote raw, so the file stays valid JSON', () => {
    const nasty: ByokBlob = { ...blob, kid: 'a"b\\c\nd\u0001', schemaVersion: '1.0"', generator: 'x\ty' };
    const text = encodeByokBlob(nasty);
    const parsed = JSON.parse(text) as { header: { kid: string }; schema_version: string; generator: string };
    expect(parsed.header.kid).toBe(nasty.kid);
    expect(parsed.schema_version).toBe('1.0"');
    expect(parsed.generator).toBe('x\ty');
    expect(decodeByokBlob(text)).toEqual(nasty);
  });
});

describe('decodeByokBlob', () => {
  it('round-trips and reads any layout, BOM or padding', () => {
    expect(decodeByokBlob(encodeByokBlob(blob))).toEqual(blob);
    const compact = JSON.stringify({
      generator: blob.generator,
      ciphertext: `${base64url(blob.ciphertext)}=`,
      header: { enc: 'CKM_RSA_AES_KEY_WRAP', alg: 'dir', kid: blob.kid },
      schema_version: '1.0.0',
    });
    expect(decodeByokBlob(`\ufeff${compact}`)).toEqual(blob);
    expect(decodeByokBlob(Buffer.from(compact))).toEqual(blob);
    const noGenerator = JSON.parse(compact) as Record<string, unknown>;
    delete noGenerator.generator;
    expect(decodeByokBlob(JSON.stringify(noGenerator)).generator).toBe('');
  });

  it('rejects every malformed field with a message naming it', () => {
    const good = JSON.parse(encodeByokBlob(blob)) as Record<string, unknown>;
    const variant = (patch: Record<string, unknown>, header?: Record<string, unknown>) =>
      JSON.stringify({
        ...good,
        ...patch,
        ...(header ? { header: { ...(good.header as object), ...header } } : {}),
      });
    const rows: [string, RegExp][] = [
      ['', /not valid JSON/],
      ['{', /not valid JSON/],
      ['[]', /top level must be a JSON object/],
      ['null', /top level must be a JSON object/],
      [variant({ schema_version: 1 }), /schema_version is a number; it must be a string/],
      [variant({ header: 'x' }), /header is missing or not an object/],
      [variant({}, { kid: undefined }), /header\.kid is missing/],
      [variant({}, { alg: 'RSA-OAEP' }), /header\.alg is 'RSA-OAEP'; it must be 'dir'/],
      [variant({}, { enc: 'A256KW' }), /header\.enc is 'A256KW'; it must be 'CKM_RSA_AES_KEY_WRAP'/],
      [variant({ ciphertext: 'ab+/' }), /ciphertext is not base64url/],
      [variant({ ciphertext: '' }), /ciphertext is empty/],
      [variant({ ciphertext: undefined }), /ciphertext is missing/],
      [variant({ generator: 7 }), /generator is a number/],
    ];
    for (const [text, pattern] of rows) expect(blobError(text).message, text).toMatch(pattern);
  });
});
