import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ByokError } from '../src/errors.js';
import {
  curveByNodeName,
  curveByOid,
  describeKeySpec,
  EC_CURVES,
  findCurve,
  keySpecWarnings,
  parseKeySpec,
} from '../src/keyspec.js';
import type { KeySpec } from '../src/types.js';

function specError(value: string): ByokError {
  try {
    parseKeySpec(value);
  } catch (e) {
    expect(e).toBeInstanceOf(ByokError);
    return e as ByokError;
  }
  throw new Error(`parseKeySpec(${JSON.stringify(value)}) did not throw`);
}

describe('EC_CURVES', () => {
  it('finds every alias case-insensitively', () => {
    const cases: [string, string][] = [
      ['X9_62_prime256v1', 'P-256'],
      ['x9_62_PRIME256V1', 'P-256'],
      ['prime256v1', 'P-256'],
      ['secp256r1', 'P-256'],
      ['p-256', 'P-256'],
      ['secp384r1', 'P-384'],
      ['P-384', 'P-384'],
      ['SECP521R1', 'P-521'],
      ['p-521', 'P-521'],
      ['secp256k1', 'secp256k1'],
      ['p-256k', 'secp256k1'],
    ];
    for (const [alias, name] of cases) expect(findCurve(alias)?.name, alias).toBe(name);
    expect(findCurve('P-224')).toBeUndefined();
    expect(findCurve('')).toBeUndefined();
  });

  it('carries the DER of its OID as CKA_EC_PARAMS', () => {
    for (const curve of EC_CURVES) {
      // Encode the dotted OID ourselves and compare: catches a typo in either field.
      const arcs = curve.oid.split('.').map(Number);
      const body: number[] = [(arcs[0] ?? 0) * 40 + (arcs[1] ?? 0)];
      for (const arc of arcs.slice(2)) {
        const bytes = [arc & 0x7f];
        for (let v = arc >> 7; v > 0; v >>= 7) bytes.unshift((v & 0x7f) | 0x80);
        body.push(...bytes);
      }
      expect(curve.ecParamsDer.toString('hex'), curve.name).toBe(
        Buffer.from([0x06, body.length, ...body]).toString('hex'),
      );
      expect(curveByOid(curve.oid)).toBe(curve);
    }
    expect(curveByOid('1.2.3')).toBeUndefined();
  });

  it("matches node:crypto's curve names and key sizes", () => {
    for (const curve of EC_CURVES) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: curve.nodeName });
      expect(curveByNodeName(privateKey.asymmetricKeyDetails?.namedCurve ?? '')).toBe(curve);
      const jwk = privateKey.export({ format: 'jwk' });
      if (curve.name !== 'secp256k1') expect(jwk.crv).toBe(curve.jwkCrv);
    }
    expect(findCurve('P-256K')?.jwkCrv).toBe('P-256K');
  });
});

describe('parseKeySpec', () => {
  it('parses the three documented forms', () => {
    expect(parseKeySpec('CKK_RSA, 2048, none')).toEqual({ kind: 'rsa', bits: 2048 });
    const ec = parseKeySpec('CKK_EC, 384, "P-384"');
    expect(ec.kind).toBe('ec');
    expect(ec.kind === 'ec' && ec.curve.name).toBe('P-384');
    expect(parseKeySpec('CKK_AES, 256, none')).toEqual({ kind: 'aes', bits: 256 });
  });

  it('accepts the original spellings: lower case, no spaces, colons', () => {
    expect(parseKeySpec('ckk_rsa,3072,NONE')).toEqual({ kind: 'rsa', bits: 3072 });
    expect(parseKeySpec('CKK_EC:256:X9_62_prime256v1')).toMatchObject({ kind: 'ec', bits: 256 });
    expect(parseKeySpec('  CKK_EC , 521 , secp521r1 ')).toMatchObject({ kind: 'ec', bits: 521 });
    expect(parseKeySpec('CKK_EC, 256, P-256K')).toMatchObject({ kind: 'ec', curve: { name: 'secp256k1' } });
    expect(parseKeySpec('CKK_AES, 128, none')).toEqual({ kind: 'aes', bits: 128 });
    expect(parseKeySpec('CKK_AES, 192, none')).toEqual({ kind: 'aes', bits: 192 });
  });

  it('accepts RSA 1024..8192 in steps of 8', () => {
    expect(parseKeySpec('CKK_RSA, 1024, none')).toEqual({ kind: 'rsa', bits: 1024 });
    expect(parseKeySpec('CKK_RSA, 8192, none')).toEqual({ kind: 'rsa', bits: 8192 });
    expect(parseKeySpec('CKK_RSA, 2056, none')).toEqual({ kind: 'rsa', bits: 2056 });
    for (const bad of ['1016', '8200', '2049', '0', '512']) {
      const e = specError(`CKK_RSA, ${bad}, none`);
      expect(e.code).toBe('CKR_ARGUMENTS_BAD');
      expect(e.message).toContain(`RSA size ${Number(bad)}`);
      expect(e.message).toContain('allowed: 1024 to 8192 in steps of 8');
    }
  });

  it('rejects each bad part with a one-line message naming value and allowed values', () => {
    const rows: [string, RegExp][] = [
      ['CKK_RSA, 2048', /expected 3 values, found 2.*allowed: three values/],
      ['CKK_RSA, 2048, none, extra', /expected 3 values, found 4/],
      ['', /expected 3 values, found 0/],
      ['CKK_DSA, 2048, none', /unknown key type 'CKK_DSA'.*allowed: CKK_RSA, CKK_EC, CKK_AES/],
      ['CKK_DES3, 192, none', /CKK_DES3 is not supported/],
      // HMAC keys exist for the cloud commands only; HsmConfig.ini keeps the original's three types.
      ['CKK_HMAC, 256, none', /unknown key type 'CKK_HMAC'/],
      ['CKK_GENERIC_SECRET, 256, none', /unknown key type 'CKK_GENERIC_SECRET'/],
      ['CKK_RSA, 2048x, none', /key size '2048x' is not a number/],
      ['CKK_RSA, -2048, none', /key size '-2048' is not a number/],
      ['CKK_RSA, 2048, P-256', /curve 'P-256' given for an RSA key.*allowed: none/],
      ['CKK_AES, 512, none', /AES size 512.*allowed: 128, 192, 256/],
      ['CKK_AES, 256, P-256', /curve 'P-256' given for an AES key/],
      ['CKK_EC, 256, P-224', /unknown curve 'P-224'.*allowed: X9_62_prime256v1, prime256v1/],
      ['CKK_EC, 384, P-256', /curve P-256 is 256 bits, not 384.*allowed: CKK_EC, 256, P-256/],
      ['CKK_EC, 256, secp521r1', /curve P-521 is 521 bits, not 256/],
      ['CKK_EC, 256, none', /unknown curve 'none'/],
    ];
    for (const [value, pattern] of rows) {
      const e = specError(value);
      expect(e.code, value).toBe('CKR_ARGUMENTS_BAD');
      expect(e.message, value).toMatch(pattern);
      expect(e.message, value).toMatch(/^targetKeySpec: /);
      expect(e.message).not.toContain('\n');
    }
  });
});

describe('describeKeySpec and keySpecWarnings', () => {
  const p384 = findCurve('P-384');
  if (!p384) throw new Error('P-384 missing');

  it('describes', () => {
    expect(describeKeySpec({ kind: 'rsa', bits: 2048 })).toBe('RSA-2048');
    expect(describeKeySpec({ kind: 'hmac', bits: 256 })).toBe('HMAC-256');
    expect(describeKeySpec({ kind: 'ec', bits: 384, curve: p384 })).toBe('EC P-384');
    expect(describeKeySpec({ kind: 'aes', bits: 256 })).toBe('AES-256');
  });

  it('warns about specs no cloud imports', () => {
    const quiet: KeySpec[] = [
      { kind: 'rsa', bits: 2048 },
      { kind: 'rsa', bits: 3072 },
      { kind: 'rsa', bits: 4096 },
      { kind: 'ec', bits: 384, curve: p384 },
      { kind: 'aes', bits: 256 },
    ];
    for (const spec of quiet) expect(keySpecWarnings(spec), describeKeySpec(spec)).toEqual([]);
    expect(keySpecWarnings({ kind: 'rsa', bits: 1024 })).toEqual([
      'RSA-1024 is accepted by no cloud KMS: Azure Key Vault and AWS KMS import RSA 2048, 3072 or 4096',
    ]);
    expect(keySpecWarnings({ kind: 'rsa', bits: 8192 })[0]).toMatch(/^RSA-8192 is accepted by no cloud/);
    expect(keySpecWarnings({ kind: 'aes', bits: 192 })[0]).toMatch(
      /^AES-192 imports only into Azure Managed HSM: AWS/,
    );
    expect(keySpecWarnings({ kind: 'aes', bits: 128 })).toHaveLength(1);
  });
});
