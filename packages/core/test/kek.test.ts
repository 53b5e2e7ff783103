import { createHash, generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ByokError } from '../src/errors.js';
import { type Kek, kekFromPublicKey, parseKekPem, publicKeyToPem } from '../src/kek.js';
import { rsaKeyPair, thrown } from './keys.js';

let pem2048 = '';
let pem3072 = '';

beforeAll(async () => {
  pem2048 = publicKeyToPem((await rsaKeyPair(2048)).publicKey);
  pem3072 = publicKeyToPem((await rsaKeyPair(3072)).publicKey);
}, 60_000);

function kekError(text: string | Buffer): ByokError {
  const e = thrown(() => parseKekPem(text));
  expect(e).toBeInstanceOf(ByokError);
  const err = e as ByokError;
  // The original's codes: unreadable content CKR_FILE_IO, a key of the wrong type or size KEY_TYPE/SIZE.
  expect(['CKR_FILE_IO', 'CKR_KEY_TYPE_INCONSISTENT', 'CKR_WRAPPING_KEY_SIZE_RANGE']).toContain(err.code);
  expect(err.message).toMatch(/^kekBlob\.pem: /);
  expect(err.message).not.toContain('\n');
  return err;
}

describe('parseKekPem', () => {
  it('reads an SPKI RSA public key and fingerprints its DER', async () => {
    const { publicKey } = await rsaKeyPair(2048);
    const kek: Kek = parseKekPem(pem2048);
    expect(kek.modulusBits).toBe(2048);
    const der = publicKey.export({ type: 'spki', format: 'der' });
    expect(kek.spkiDer.equals(der)).toBe(true);
    expect(kek.fingerprint).toBe(createHash('sha256').update(der).digest('hex'));
    expect(kek.publicKey.equals(publicKey)).toBe(true);
    expect(parseKekPem(pem3072).modulusBits).toBe(3072);
  });

  it('tolerates CRLF, a BOM, bytes, indentation and text around the block', () => {
    const expected = parseKekPem(pem2048).fingerprint;
    const variants: (string | Buffer)[] = [
      pem2048.replace(/\n/g, '\r\n'),
      `\ufeff${pem2048}`,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(pem2048)]),
      `Here is the KEK you asked for:\n\n${pem2048}\n-- \nThe vault team\n`,
      pem2048
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n'),
      pem2048.replace(/\n(?!-)/g, ''), // body on one line
    ];
    for (const v of variants) expect(parseKekPem(v).fingerprint).toBe(expected);
  });

  it('accepts a PKCS#1 RSA PUBLIC KEY block too', async () => {
    const { publicKey } = await rsaKeyPair(2048);
    const pkcs1 = publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toContain('BEGIN RSA PUBLIC KEY');
    expect(parseKekPem(pkcs1).fingerprint).toBe(parseKekPem(pem2048).fingerprint);
  });

  it('rejects what is not an RSA public key of 2048 bits or more, saying what to do', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const rows: [string, RegExp][] = [
      ['', /holds nothing \(the file is empty\).*BEGIN PUBLIC KEY/],
      ['   \n\n', /holds nothing/],
      ['hello world', /holds no PEM block; it must hold the KEK public key as '-----BEGIN PUBLIC KEY-----'/],
      [
        ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        /the KEK is an EC key \(prime256v1\).*create the KEK as RSA/,
      ],
      [
        small.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        /the KEK is RSA-1024; it must be at least RSA-2048/,
      ],
      [
        small.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        /holds a private key \(PRIVATE KEY\)/,
      ],
      [
        small.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
        /holds a private key \(RSA PRIVATE KEY\)/,
      ],
      [
        '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
        /holds a certificate.*openssl x509 -pubkey/,
      ],
      ['-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n', /PUBLIC KEY block is not valid base64/],
      ['-----BEGIN PUBLIC KEY-----\nMIIB*IjAN\n-----END PUBLIC KEY-----\n', /not valid base64/],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', /does not decode to a public key/],
      ['-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n', /holds no PEM block/],
      ['x'.repeat(300_000), /characters long; a KEK public key PEM is a few kilobytes/],
    ];
    for (const [text, pattern] of rows) expect(kekError(text).message, text.slice(0, 40)).toMatch(pattern);
  });

  it('names its source and refuses a truncated body', () => {
    const lines = pem2048.trim().split('\n');
    const truncated = [...lines.slice(0, 4), lines[lines.length - 1]].join('\n');
    const e = thrown(() => parseKekPem(truncated, { source: './kek.pem' }));
    expect(e).toBeInstanceOf(ByokError);
    expect((e as ByokError).message).toMatch(/^\.\/kek\.pem: /);
  });
});

describe('kekFromPublicKey and publicKeyToPem', () => {
  it('builds the same Kek as the PEM path, from a public or a private key', async () => {
    const { publicKey, privateKey } = await rsaKeyPair(2048);
    const fromPem = parseKekPem(pem2048);
    expect(kekFromPublicKey(publicKey).fingerprint).toBe(fromPem.fingerprint);
    const fromPrivate = kekFromPublicKey(privateKey);
    expect(fromPrivate.publicKey.type).toBe('public');
    expect(fromPrivate.fingerprint).toBe(fromPem.fingerprint);
    expect(publicKeyToPem(privateKey)).toBe(pem2048);
    expect(pem2048).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
  });

  it('refuses EC and small keys', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const e = thrown(() => kekFromPublicKey(ec.publicKey));
    expect(e).toBeInstanceOf(ByokError);
    expect((e as ByokError).message).toMatch(/^KEK: the KEK is an EC key/);
  });
});
