/**
 * `targetKeySpec`: what kind of key the ceremony generates or expects, and the curves hsmbyok knows.
 * Spellings follow the original (`CKK_EC, 384, "P-384"`), compared case-insensitively like it does.
 */
import { ByokError } from './errors.js';
import { quoteValue } from './quote.js';
import type { EcCurve, KeySpec } from './types.js';

function oidDer(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

export const EC_CURVES: readonly EcCurve[] = Object.freeze([
  {
    name: 'P-256',
    bits: 256,
    oid: '1.2.840.10045.3.1.7',
    ecParamsDer: oidDer('06082a8648ce3d030107'),
    aliases: ['X9_62_prime256v1', 'prime256v1', 'secp256r1', 'P-256'],
    nodeName: 'prime256v1',
    jwkCrv: 'P-256',
  },
  {
    name: 'P-384',
    bits: 384,
    oid: '1.3.132.0.34',
    ecParamsDer: oidDer('06052b81040022'),
    aliases: ['secp384r1', 'P-384'],
    nodeName: 'secp384r1',
    jwkCrv: 'P-384',
  },
  {
    name: 'P-521',
    bits: 521,
    oid: '1.3.132.0.35',
    ecParamsDer: oidDer('06052b81040023'),
    aliases: ['secp521r1', 'P-521'],
    nodeName: 'secp521r1',
    jwkCrv: 'P-521',
  },
  {
    name: 'secp256k1',
    bits: 256,
    oid: '1.3.132.0.10',
    ecParamsDer: oidDer('06052b8104000a'),
    aliases: ['secp256k1', 'P-256K'],
    nodeName: 'secp256k1',
    jwkCrv: 'P-256K',
  },
] satisfies EcCurve[]);

/** Every accepted curve spelling, for error messages. */
const CURVE_SPELLINGS = EC_CURVES.flatMap((c) => c.aliases).join(', ');

export function findCurve(nameOrAlias: string): EcCurve | undefined {
  const wanted = nameOrAlias.trim().toLowerCase();
  return EC_CURVES.find((c) => c.aliases.some((a) => a.toLowerCase() === wanted));
}

export function curveByOid(oid: string): EcCurve | undefined {
  return EC_CURVES.find((c) => c.oid === oid.trim());
}

/** node:crypto reports `asymmetricKeyDetails.namedCurve` in its own spelling (`prime256v1`). */
export function curveByNodeName(nodeName: string): EcCurve | undefined {
  return EC_CURVES.find((c) => c.nodeName === nodeName);
}

/** The `targetKeySpec` key types we generate; the original's CKK_DES3 is refused (no cloud takes it). */
const KEY_TYPES = ['CKK_RSA', 'CKK_EC', 'CKK_AES'] as const;

// The original documents "1024 thru 8192"; PKCS#11 modules want whole bytes, hence steps of 8.
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 8192;
const AES_BITS = [128, 192, 256] as const;

function bad(value: string, problem: string, allowed: string): ByokError {
  return new ByokError(
    'CKR_ARGUMENTS_BAD',
    `targetKeySpec: ${problem} in ${quoteValue(value)}; allowed: ${allowed}`,
  );
}

/**
 * Parses `CKK_RSA, 2048, none` / `CKK_EC, 384, "P-384"` / `CKK_AES, 256, none`.
 * Separators are commas, colons or white space, as in the original's tokeniser; quotes around a part are
 * ignored. Unlike the original, the size must be a plain number (it used atoi: `2048x` was 2048) and the
 * third part must be `none` for RSA and AES (it ignored it, so `CKK_RSA, 2048, P-256` went unnoticed).
 */
export function parseKeySpec(value: string): KeySpec {
  const parts = value
    .split(/[\s,:]+/)
    .map((p) => p.replace(/"/g, ''))
    .filter((p) => p.length > 0);
  const shape = 'three values: type, size, curve (e.g. CKK_RSA, 2048, none or CKK_EC, 384, P-384)';
  if (parts.length !== 3) {
    throw bad(value, `expected 3 values, found ${parts.length}`, shape);
  }
  const [typeText, sizeText, curveText] = parts as [string, string, string];
  const type = KEY_TYPES.find((t) => t === typeText.toUpperCase());
  if (!type) {
    const why =
      typeText.toUpperCase() === 'CKK_DES3'
        ? 'key type CKK_DES3 is not supported (no cloud KMS imports DES3 keys)'
        : `unknown key type ${quoteValue(typeText)}`;
    throw bad(value, why, KEY_TYPES.join(', '));
  }
  if (!/^[0-9]{1,6}$/.test(sizeText)) {
    throw bad(value, `key size ${quoteValue(sizeText)} is not a number of bits`, 'a decimal number of bits');
  }
  const bits = Number(sizeText);
  const noCurve = curveText.toLowerCase() === 'none';

  if (type === 'CKK_RSA') {
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS || bits % 8 !== 0) {
      throw bad(value, `RSA size ${bits}`, `${RSA_MIN_BITS} to ${RSA_MAX_BITS} in steps of 8`);
    }
    if (!noCurve) throw bad(value, `curve ${quoteValue(curveText)} given for an RSA key`, 'none');
    return { kind: 'rsa', bits };
  }
  if (type === 'CKK_AES') {
    const aesBits = AES_BITS.find((b) => b === bits);
    if (aesBits === undefined) throw bad(value, `AES size ${bits}`, AES_BITS.join(', '));
    if (!noCurve) throw bad(value, `curve ${quoteValue(curveText)} given for an AES key`, 'none');
    return { kind: 'aes', bits: aesBits };
  }
  const curve = findCurve(curveText);
  if (!curve) throw bad(value, `unknown curve ${quoteValue(curveText)}`, CURVE_SPELLINGS);
  if (curve.bits !== bits) {
    // The original silently generated no CKA_EC_PARAMS here and let the HSM fail with an opaque code.
    throw bad(
      value,
      `curve ${curve.name} is ${curve.bits} bits, not ${bits}`,
      `CKK_EC, ${curve.bits}, ${curve.name}`,
    );
  }
  return { kind: 'ec', bits, curve };
}

/** `RSA-2048`, `EC P-384`, `AES-256`: how specs appear in logs and evidence. */
export function describeKeySpec(spec: KeySpec): string {
  switch (spec.kind) {
    case 'rsa':
      return `RSA-${spec.bits}`;
    case 'ec':
      return `EC ${spec.curve.name}`;
    case 'aes':
      return `AES-${spec.bits}`;
    case 'hmac':
      return `HMAC-${spec.bits}`;
  }
}

/** RSA sizes Azure Key Vault / Managed HSM and AWS KMS both import. */
const CLOUD_RSA_BITS = [2048, 3072, 4096];

/**
 * Specs the HSM can make but a cloud will refuse: better said before the key exists than after the import
 * fails. One line each.
 */
export function keySpecWarnings(spec: KeySpec): string[] {
  const warnings: string[] = [];
  if (spec.kind === 'rsa' && !CLOUD_RSA_BITS.includes(spec.bits)) {
    warnings.push(
      `${describeKeySpec(spec)} is accepted by no cloud KMS: Azure Key Vault and AWS KMS import RSA 2048, 3072 or 4096`,
    );
  }
  if (spec.kind === 'aes' && spec.bits !== 256) {
    warnings.push(
      `${describeKeySpec(spec)} imports only into Azure Managed HSM: AWS KMS imports AES-256 only and ` +
        'Azure Key Vault (non-managed) imports no AES keys',
    );
  }
  return warnings;
}
