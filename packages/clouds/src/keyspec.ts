/**
 * Key specs as each cloud names them, which operations and wrapping algorithms each allows, and how to pick
 * the OAEP hash. Pure functions: decided before any network call, so a refused combination creates nothing.
 */
import { type EcCurveName, findCurve, type KeySpec } from '@byok/core';
import { type CloudName, cloudError } from './errors.js';
import type {
  AwsWrappingAlgorithm,
  CloudKeySpec,
  CloudOaepHash,
  KeyOp,
  WrapInstructions,
  WrappingKeyBits,
} from './types.js';
import { KEY_OPS } from './types.js';

const RSA_BITS = [2048, 3072, 4096] as const;
const AES_BITS = [128, 192, 256] as const;
const HMAC_BITS = [224, 256, 384, 512] as const;
const CURVES: readonly EcCurveName[] = ['P-256', 'P-384', 'P-521', 'secp256k1'];

export function describeCloudKeySpec(spec: CloudKeySpec): string {
  switch (spec.kind) {
    case 'rsa':
      return `RSA-${spec.bits}`;
    case 'ec':
      return `EC ${spec.curve}`;
    case 'aes':
      return `AES-${spec.bits}`;
    case 'hmac':
      return `HMAC-${spec.bits}`;
  }
}

/** From core's KeySpec (what HsmConfig.ini and the HSM layer speak); sizes no cloud takes are refused. */
export function cloudKeySpecFromCore(spec: KeySpec): CloudKeySpec {
  switch (spec.kind) {
    case 'rsa': {
      const bits = RSA_BITS.find((b) => b === spec.bits);
      if (!bits) {
        throw cloudError(
          'UNSUPPORTED_KEY_SPEC',
          undefined,
          `RSA-${spec.bits} is imported by no cloud; use 2048, 3072 or 4096`,
        );
      }
      return { kind: 'rsa', bits };
    }
    case 'ec':
      return { kind: 'ec', curve: spec.curve.name };
    case 'aes':
      return { kind: 'aes', bits: spec.bits };
    case 'hmac':
      return { kind: 'hmac', bits: spec.bits };
  }
}

/** Back to core's KeySpec (what the HSM layer generates and checks). */
export function coreKeySpecFromCloud(spec: CloudKeySpec): KeySpec {
  switch (spec.kind) {
    case 'rsa':
    case 'aes':
    case 'hmac':
      return spec;
    case 'ec': {
      const curve = findCurve(spec.curve);
      if (!curve) throw cloudError('UNSUPPORTED_KEY_SPEC', undefined, `unknown curve ${spec.curve}`);
      return { kind: 'ec', bits: curve.bits, curve };
    }
  }
}

/** Validates a spec that arrived as data (CLI JSON, workflow input). */
export function checkCloudKeySpec(value: CloudKeySpec): CloudKeySpec {
  const bad = (what: string) => cloudError('REQUEST_INVALID', undefined, `key spec: ${what}`);
  switch (value.kind) {
    case 'rsa':
      if (!RSA_BITS.includes(value.bits)) throw bad(`RSA size ${value.bits}; allowed ${RSA_BITS.join(', ')}`);
      return value;
    case 'ec':
      if (!CURVES.includes(value.curve))
        throw bad(`curve ${String(value.curve)}; allowed ${CURVES.join(', ')}`);
      return value;
    case 'aes':
      if (!AES_BITS.includes(value.bits)) throw bad(`AES size ${value.bits}; allowed ${AES_BITS.join(', ')}`);
      return value;
    case 'hmac':
      if (!HMAC_BITS.includes(value.bits))
        throw bad(`HMAC size ${value.bits}; allowed ${HMAC_BITS.join(', ')}`);
      return value;
    default:
      throw bad(`unknown kind ${String((value as { kind?: unknown }).kind)}`);
  }
}

export function defaultKeyOps(spec: CloudKeySpec): KeyOp[] {
  return spec.kind === 'aes' ? ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] : ['sign', 'verify'];
}

const OPS_BY_KIND: Readonly<Record<CloudKeySpec['kind'], readonly KeyOp[]>> = {
  rsa: KEY_OPS,
  ec: ['sign', 'verify'],
  aes: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
  hmac: ['sign', 'verify'],
};

export function checkKeyOps(
  spec: CloudKeySpec,
  ops: readonly KeyOp[] | undefined,
  cloud: CloudName,
): KeyOp[] {
  const wanted = ops ?? defaultKeyOps(spec);
  if (wanted.length === 0)
    throw cloudError('REQUEST_INVALID', cloud, 'keyOps is empty; name at least one operation');
  const allowed = OPS_BY_KIND[spec.kind];
  const wrong = wanted.filter((op) => !allowed.includes(op));
  if (wrong.length > 0) {
    throw cloudError(
      'REQUEST_INVALID',
      cloud,
      `keyOps ${wrong.join(', ')} do not apply to ${describeCloudKeySpec(spec)}; allowed: ${allowed.join(', ')}`,
    );
  }
  return [...new Set(wanted)];
}

// ---- Azure ----------------------------------------------------------------------------------------------

export interface AzureKeyShape {
  readonly kty: 'RSA-HSM' | 'EC-HSM' | 'oct-HSM';
  readonly crv?: 'P-256' | 'P-384' | 'P-521' | 'P-256K';
}

export function azureKeyShape(spec: CloudKeySpec, managedHsm: boolean): AzureKeyShape {
  const cloud: CloudName = managedHsm ? 'Azure Managed HSM' : 'Azure Key Vault';
  switch (spec.kind) {
    case 'rsa':
      return { kty: 'RSA-HSM' };
    case 'ec': {
      const curve = findCurve(spec.curve);
      return { kty: 'EC-HSM', crv: (curve?.jwkCrv ?? spec.curve) as NonNullable<AzureKeyShape['crv']> };
    }
    case 'aes':
      if (!managedHsm) {
        throw cloudError(
          'UNSUPPORTED_KEY_SPEC',
          cloud,
          `${describeCloudKeySpec(spec)} (oct-HSM) can only be imported into a Managed HSM, not a Key Vault`,
        );
      }
      return { kty: 'oct-HSM' };
    case 'hmac':
      throw cloudError(
        'UNSUPPORTED_KEY_SPEC',
        cloud,
        'HMAC keys cannot be imported into Azure Key Vault / Managed HSM',
      );
  }
}

// ---- AWS ------------------------------------------------------------------------------------------------

export type AwsKeySpec =
  | 'SYMMETRIC_DEFAULT'
  | 'HMAC_224'
  | 'HMAC_256'
  | 'HMAC_384'
  | 'HMAC_512'
  | 'RSA_2048'
  | 'RSA_3072'
  | 'RSA_4096'
  | 'ECC_NIST_P256'
  | 'ECC_NIST_P384'
  | 'ECC_NIST_P521'
  | 'ECC_SECG_P256K1';

export type AwsKeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC';

const AWS_CURVES: Readonly<Record<EcCurveName, AwsKeySpec>> = {
  'P-256': 'ECC_NIST_P256',
  'P-384': 'ECC_NIST_P384',
  'P-521': 'ECC_NIST_P521',
  secp256k1: 'ECC_SECG_P256K1',
};

export function awsKeySpec(spec: CloudKeySpec): AwsKeySpec {
  switch (spec.kind) {
    case 'rsa':
      return `RSA_${spec.bits}`;
    case 'ec':
      return AWS_CURVES[spec.curve];
    case 'hmac':
      return `HMAC_${spec.bits}`;
    case 'aes':
      if (spec.bits !== 256) {
        throw cloudError(
          'UNSUPPORTED_KEY_SPEC',
          'AWS KMS',
          `${describeCloudKeySpec(spec)}: KMS imports symmetric keys of 256 bits only (SYMMETRIC_DEFAULT)`,
        );
      }
      return 'SYMMETRIC_DEFAULT';
  }
}

/** KMS KeySpec -> our spec (the inverse of awsKeySpec). */
const CLOUD_SPEC_OF: Readonly<Record<AwsKeySpec, CloudKeySpec>> = {
  SYMMETRIC_DEFAULT: { kind: 'aes', bits: 256 },
  HMAC_224: { kind: 'hmac', bits: 224 },
  HMAC_256: { kind: 'hmac', bits: 256 },
  HMAC_384: { kind: 'hmac', bits: 384 },
  HMAC_512: { kind: 'hmac', bits: 512 },
  RSA_2048: { kind: 'rsa', bits: 2048 },
  RSA_3072: { kind: 'rsa', bits: 3072 },
  RSA_4096: { kind: 'rsa', bits: 4096 },
  ECC_NIST_P256: { kind: 'ec', curve: 'P-256' },
  ECC_NIST_P384: { kind: 'ec', curve: 'P-384' },
  ECC_NIST_P521: { kind: 'ec', curve: 'P-521' },
  ECC_SECG_P256K1: { kind: 'ec', curve: 'secp256k1' },
};

/** `RSA_2048` -> { kind: 'rsa', bits: 2048 }; undefined for a name KMS does not import into. */
export function cloudKeySpecOfAws(name: string): CloudKeySpec | undefined {
  return Object.hasOwn(CLOUD_SPEC_OF, name) ? CLOUD_SPEC_OF[name as AwsKeySpec] : undefined;
}

export const AWS_KEY_SPECS = Object.keys(CLOUD_SPEC_OF) as AwsKeySpec[];

/** KMS keys have one usage; an RSA key cannot both sign and decrypt. */
export function awsKeyUsage(spec: CloudKeySpec, ops: readonly KeyOp[]): AwsKeyUsage {
  if (spec.kind === 'hmac') return 'GENERATE_VERIFY_MAC';
  if (spec.kind === 'aes') return 'ENCRYPT_DECRYPT';
  if (spec.kind === 'ec') return 'SIGN_VERIFY';
  const signs = ops.some((op) => op === 'sign' || op === 'verify');
  const crypts = ops.some((op) => op !== 'sign' && op !== 'verify');
  if (signs && crypts) {
    throw cloudError(
      'REQUEST_INVALID',
      'AWS KMS',
      'a KMS RSA key either signs (sign, verify) or encrypts (encrypt, decrypt); keyOps asks for both',
    );
  }
  return signs ? 'SIGN_VERIFY' : 'ENCRYPT_DECRYPT';
}

/**
 * AWS's rules (KMS developer guide, "Select a wrapping algorithm", and GetParametersForImport):
 * RSA_AES_KEY_WRAP_SHA_* wraps RSA and ECC private keys; RSAES_OAEP_SHA_* wraps everything except RSA private
 * keys, and not ECC_NIST_P521 under an RSA_2048 wrapping key; RSAES_PKCS1_V1_5 is gone since 2023-10-10.
 */
export function awsAlgorithmProblem(
  spec: CloudKeySpec,
  algorithm: AwsWrappingAlgorithm,
  wrappingKeyBits: WrappingKeyBits,
): string | undefined {
  const oaep = algorithm.startsWith('RSAES_OAEP_');
  const what = describeCloudKeySpec(spec);
  if (spec.kind === 'rsa' && oaep) {
    return `${algorithm} cannot carry an RSA private key (${what}); use RSA_AES_KEY_WRAP_SHA_256 or _SHA_1`;
  }
  if ((spec.kind === 'aes' || spec.kind === 'hmac') && !oaep) {
    return `${algorithm} is for RSA and ECC private keys; ${what} needs RSAES_OAEP_SHA_256 or _SHA_1`;
  }
  if (spec.kind === 'ec' && spec.curve === 'P-521' && oaep && wrappingKeyBits === 2048) {
    return `${what} does not fit ${algorithm} under an RSA_2048 wrapping key; use RSA_3072+ or RSA_AES_KEY_WRAP_SHA_*`;
  }
  return undefined;
}

export function hashOfAlgorithm(algorithm: AwsWrappingAlgorithm): CloudOaepHash {
  return algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
}

export function instructionsFor(spec: CloudKeySpec, algorithm: AwsWrappingAlgorithm): WrapInstructions {
  return {
    format: algorithm.startsWith('RSAES_OAEP_') ? 'rsa-oaep' : 'rsa-aes-key-wrap',
    oaepHash: hashOfAlgorithm(algorithm),
    encoding: spec.kind === 'aes' || spec.kind === 'hmac' ? 'raw' : 'pkcs8',
    awsAlgorithm: algorithm,
  };
}

/**
 * SHA-256 when the HSM can, else SHA-1 with a note. RSA and ECC keys use RSA_AES_KEY_WRAP (ECC could use
 * OAEP, but KWP works for every curve and wrapping key size); symmetric and HMAC keys use RSAES_OAEP.
 */
export function chooseAwsAlgorithm(
  spec: CloudKeySpec,
  hsmHashes: readonly CloudOaepHash[],
  requested: AwsWrappingAlgorithm | undefined,
  wrappingKeyBits: WrappingKeyBits,
): { algorithm: AwsWrappingAlgorithm; notes: string[] } {
  const notes: string[] = [];
  if (hsmHashes.length === 0) {
    throw cloudError('OAEP_HASH_UNSUPPORTED', 'AWS KMS', 'the HSM supports neither OAEP SHA-256 nor SHA-1');
  }
  let algorithm: AwsWrappingAlgorithm;
  if (requested) {
    algorithm = requested;
  } else {
    const hash = hsmHashes.includes('sha256') ? 'SHA_256' : 'SHA_1';
    algorithm =
      spec.kind === 'aes' || spec.kind === 'hmac' ? `RSAES_OAEP_${hash}` : `RSA_AES_KEY_WRAP_${hash}`;
    if (hash === 'SHA_1') {
      notes.push(
        `${algorithm} chosen: the HSM cannot do OAEP with SHA-256 (KMS accepts SHA-1, but prefers SHA-256)`,
      );
    }
  }
  const problem = awsAlgorithmProblem(spec, algorithm, wrappingKeyBits);
  if (problem) throw cloudError('UNSUPPORTED_WRAPPING_ALGORITHM', 'AWS KMS', problem);
  const hash = hashOfAlgorithm(algorithm);
  if (!hsmHashes.includes(hash)) {
    throw cloudError(
      'OAEP_HASH_UNSUPPORTED',
      'AWS KMS',
      `${algorithm} needs OAEP ${hash.toUpperCase()}, which the HSM cannot do (it can: ${hsmHashes.join(', ')})`,
    );
  }
  return { algorithm, notes };
}
