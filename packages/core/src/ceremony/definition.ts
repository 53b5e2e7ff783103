/**
 * The ceremony definition: one YAML (or JSON) file a requester writes, the whole input of a ceremony.
 * It is parsed and fully validated into a typed, JSON-only `CeremonyDefinition` before anything starts;
 * every problem is one line naming the field (`quorum.approvers[1].publicKey: ...`), code CEREMONY_INVALID.
 *
 * What it never holds: PINs or any secret (the worker reads the PIN of an HSM profile from its own secret
 * config; a `pin`/`password` field anywhere is refused), the PKCS#11 module or token (profile config), key bytes.
 *
 *   version: 1
 *   id: cer-2025-0001
 *   requester: bob
 *   key: { spec: 'CKK_EC, 256, P-256' }         # HsmConfig.ini's targetKeySpec spelling
 *   hsm: { profile: luna-prod, keyLabel: payments-sign, createIfMissing: true }
 *   target:
 *     azure: { vaultUrl: https://contoso.vault.azure.net, keyName: payments-sign, keyOps: [sign, verify] }
 *   quorum:
 *     required: 2
 *     window: 72h
 *     vetoOnReject: true
 *     approvers:
 *       - { id: alice, role: security-officer, publicKey: "-----BEGIN PUBLIC KEY-----..." }
 *   deadlines: { overall: 7d }
 */
import { LineCounter, parseDocument } from 'yaml';
import { ByokError } from '../errors.js';
import { describeKeySpec, findCurve, parseKeySpec } from '../keyspec.js';
import { quoteValue } from '../quote.js';
import { parseApproverKey } from './keys.js';
import {
  type Approver,
  AWS_WRAPPING_ALGORITHMS,
  type AwsExpiration,
  type AwsKeySpec,
  type AwsKeyUsage,
  type AwsTarget,
  type AwsWrappingAlgorithm,
  AZURE_KEY_OPS,
  type AzureKeyOp,
  type AzureKty,
  type AzureTarget,
  type CeremonyDefinition,
  type CeremonyKeySpec,
  type CeremonyTarget,
  type HsmSelection,
  type PinnedKek,
  type QuorumPolicy,
} from './types.js';

export interface DefinitionOptions {
  /** Epoch ms: enables checks relative to now (AWS `validTo` in the future and within 365 days). */
  readonly now?: number;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const MAX_APPROVERS = 50;
/** Field names that smell of a secret, refused anywhere in the file. */
const SECRET_FIELD =
  /^(pin|user-?pin|so-?pin|pins|password|passphrase|passwd|secret|private-?key|privatekey)$/i;
const IDENTITY = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

type Raw = Record<string, unknown>;

function invalid(path: string, problem: string): ByokError {
  return new ByokError('CEREMONY_INVALID', `ceremony definition: ${path}: ${problem}`);
}

/** Parses YAML (JSON is YAML too) and validates it. Throws ByokError('CEREMONY_INVALID') on the first problem. */
export function parseCeremonyDefinition(text: string, opts: DefinitionOptions = {}): CeremonyDefinition {
  // YAML 1.2 core schema: `no`/`yes`/`on` stay strings and timestamps stay strings (no YAML 1.1 surprises).
  const lines = new LineCounter();
  const doc = parseDocument(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, {
    lineCounter: lines,
    version: '1.2',
    schema: 'core',
    uniqueKeys: true,
    prettyErrors: false,
  });
  const first = doc.errors[0];
  if (first) {
    const at = lines.linePos(first.pos[0]);
    const where = `line ${at.line}, column ${at.col}`;
    throw invalid(where, `not valid YAML: ${first.message.split('\n')[0] ?? first.message}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 20 });
  } catch (e) {
    throw invalid('file', `cannot be read: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  return validateCeremonyDefinition(value, opts);
}

/** Validates an already-decoded value (e.g. a JSON body from the dashboard). */
export function validateCeremonyDefinition(value: unknown, opts: DefinitionOptions = {}): CeremonyDefinition {
  refuseSecrets(value, '');
  const root = object(value, '(root)', [
    'version',
    'id',
    'requester',
    'description',
    'key',
    'hsm',
    'target',
    'kek',
    'quorum',
    'deadlines',
  ]);
  if (root.version !== 1) throw invalid('version', `must be 1, found ${show(root.version)}`);
  const ceremonyId = string(root.id, 'id', {
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{2,99}$/,
    hint: '3-100 of A-Z a-z 0-9 . _ -',
  });
  const requester = identity(root.requester, 'requester');
  const description = optional(root.description, (v) => string(v, 'description', { max: 2000 }));
  const key = keySpec(root.key);
  const hsm = hsmSelection(root.hsm);
  const target = cloudTarget(root.target, key, opts);
  const kek = optional(root.kek, pinnedKek);
  const quorum = quorumPolicy(root.quorum, requester);
  const deadlines = object(root.deadlines, 'deadlines', ['overall']);
  const overallMs = duration(deadlines.overall, 'deadlines.overall', { min: 5 * MINUTE, max: 365 * DAY });
  if (overallMs <= quorum.windowMs) {
    throw invalid(
      'deadlines.overall',
      `(${show(deadlines.overall)}) must be longer than quorum.window, which it contains`,
    );
  }
  return {
    version: 1,
    ceremonyId,
    requester,
    ...(description === undefined ? {} : { description }),
    key,
    target,
    hsm,
    ...(kek === undefined ? {} : { kek }),
    quorum,
    deadlines: { overallMs },
  };
}

function keySpec(value: unknown): CeremonyKeySpec {
  const raw = object(value, 'key', ['spec']);
  const text = string(raw.spec, 'key.spec');
  try {
    const spec = parseKeySpec(text);
    if (spec.kind === 'ec') return { kind: 'ec', bits: spec.bits, curve: spec.curve.name };
    // parseKeySpec reads HsmConfig.ini's grammar, which has no HMAC type.
    if (spec.kind === 'hmac') throw new Error(`${describeKeySpec(spec)} is not a ceremony key spec`);
    return spec.kind === 'rsa' ? { kind: 'rsa', bits: spec.bits } : { kind: 'aes', bits: spec.bits };
  } catch (e) {
    const message = e instanceof Error ? e.message.replace(/^targetKeySpec: /, '') : String(e);
    throw invalid('key.spec', message);
  }
}

function hsmSelection(value: unknown): HsmSelection {
  const raw = object(value, 'hsm', ['profile', 'keyLabel', 'createIfMissing']);
  return {
    profile: string(raw.profile, 'hsm.profile', {
      pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      hint: 'the name of an HSM profile in the worker config',
    }),
    keyLabel: string(raw.keyLabel, 'hsm.keyLabel', {
      max: 128,
      pattern: /^[^\p{Cc}]+$/u,
      hint: 'printable text',
    }),
    createIfMissing: boolean(raw.createIfMissing, 'hsm.createIfMissing', false),
  };
}

function cloudTarget(value: unknown, key: CeremonyKeySpec, opts: DefinitionOptions): CeremonyTarget {
  const raw = object(value, 'target', ['azure', 'aws']);
  const clouds = Object.keys(raw).filter((k) => raw[k] !== undefined);
  if (clouds.length !== 1) throw invalid('target', 'give exactly one of azure or aws');
  return raw.azure !== undefined ? azureTarget(raw.azure, key) : awsTarget(raw.aws, key, opts);
}

const AZURE_OPS_BY_KIND: Readonly<Record<CeremonyKeySpec['kind'], readonly AzureKeyOp[]>> = {
  rsa: AZURE_KEY_OPS,
  ec: ['sign', 'verify'],
  aes: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
};
const AZURE_KEY_NAME = /^[0-9A-Za-z-]{1,127}$/;

function azureTarget(value: unknown, key: CeremonyKeySpec): AzureTarget {
  const p = 'target.azure';
  const raw = object(value, p, ['vaultUrl', 'keyName', 'kty', 'crv', 'keyOps', 'kek']);
  const vaultUrl = httpsOrigin(raw.vaultUrl, `${p}.vaultUrl`);
  const keyName = string(raw.keyName, `${p}.keyName`, {
    pattern: AZURE_KEY_NAME,
    hint: '1-127 of 0-9 a-z A-Z -',
  });
  const kty: AzureKty = key.kind === 'rsa' ? 'RSA-HSM' : key.kind === 'ec' ? 'EC-HSM' : 'oct-HSM';
  agrees(raw.kty, kty, `${p}.kty`);
  const crv = key.kind === 'ec' ? findCurve(key.curve)?.jwkCrv : undefined;
  if (key.kind === 'ec') agrees(raw.crv, crv, `${p}.crv`);
  else if (raw.crv !== undefined)
    throw invalid(`${p}.crv`, `only EC keys have a curve; key.spec is ${key.kind.toUpperCase()}`);
  if (key.kind === 'rsa' && ![2048, 3072, 4096].includes(key.bits)) {
    throw invalid('key.spec', `Azure Key Vault imports RSA 2048, 3072 or 4096, not ${key.bits}`);
  }
  if (key.kind === 'aes' && new URL(vaultUrl).hostname.endsWith('.vault.azure.net')) {
    throw invalid(
      'key.spec',
      'AES keys import only into Azure Managed HSM (*.managedhsm.azure.net), not Key Vault',
    );
  }
  const allowedOps = AZURE_OPS_BY_KIND[key.kind];
  const keyOps = list(raw.keyOps, `${p}.keyOps`, (v, at) => oneOf(v, at, allowedOps, `for a ${kty} key`));
  if (keyOps.length === 0) throw invalid(`${p}.keyOps`, `name at least one of ${allowedOps.join(', ')}`);
  const kekRaw =
    raw.kek === undefined ? {} : object(raw.kek, `${p}.kek`, ['name', 'bits', 'deleteAfterImport']);
  const kekName =
    kekRaw.name === undefined
      ? `${keyName}-kek`.slice(0, 127)
      : string(kekRaw.name, `${p}.kek.name`, { pattern: AZURE_KEY_NAME, hint: '1-127 of 0-9 a-z A-Z -' });
  if (kekName === keyName)
    throw invalid(`${p}.kek.name`, 'must differ from keyName (the KEK is a separate key)');
  const kekBits =
    kekRaw.bits === undefined ? 4096 : oneOf(kekRaw.bits, `${p}.kek.bits`, [2048, 3072, 4096] as const);
  return {
    cloud: 'azure',
    vaultUrl,
    keyName,
    kty,
    ...(crv === undefined ? {} : { crv }),
    keyOps,
    kek: {
      name: kekName,
      bits: kekBits,
      deleteAfterImport: boolean(kekRaw.deleteAfterImport, `${p}.kek.deleteAfterImport`, true),
    },
  };
}

function awsKeySpecFor(key: CeremonyKeySpec): AwsKeySpec {
  switch (key.kind) {
    case 'rsa':
      if (![2048, 3072, 4096].includes(key.bits)) {
        throw invalid('key.spec', `AWS KMS imports RSA 2048, 3072 or 4096, not ${key.bits}`);
      }
      return `RSA_${key.bits}` as AwsKeySpec;
    case 'ec': {
      const byCurve: Record<string, AwsKeySpec> = {
        'P-256': 'ECC_NIST_P256',
        'P-384': 'ECC_NIST_P384',
        'P-521': 'ECC_NIST_P521',
        secp256k1: 'ECC_SECG_P256K1',
      };
      const spec = byCurve[key.curve];
      if (!spec) throw invalid('key.spec', `AWS KMS does not import EC ${key.curve} keys`);
      return spec;
    }
    case 'aes':
      if (key.bits !== 256) throw invalid('key.spec', `AWS KMS imports AES-256 only, not AES-${key.bits}`);
      return 'SYMMETRIC_DEFAULT';
  }
}

const AWS_USAGES_BY_KIND: Readonly<Record<CeremonyKeySpec['kind'], readonly AwsKeyUsage[]>> = {
  rsa: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'],
  ec: ['SIGN_VERIFY', 'KEY_AGREEMENT'],
  aes: ['ENCRYPT_DECRYPT'],
};

function awsTarget(value: unknown, key: CeremonyKeySpec, opts: DefinitionOptions): AwsTarget {
  const p = 'target.aws';
  const raw = object(value, p, [
    'region',
    'alias',
    'keyId',
    'keySpec',
    'keyUsage',
    'wrappingAlgorithms',
    'wrappingKeySpec',
    'expiration',
  ]);
  const region = string(raw.region, `${p}.region`, {
    pattern: /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/,
    hint: 'e.g. eu-west-1',
  });
  if ((raw.alias === undefined) === (raw.keyId === undefined)) {
    throw invalid(p, 'give exactly one of alias (create a new key) or keyId (an existing EXTERNAL key)');
  }
  const alias = optional(raw.alias, (v) => {
    const a = string(v, `${p}.alias`, { pattern: /^alias\/[A-Za-z0-9:/_-]{1,250}$/, hint: 'alias/<name>' });
    if (a.startsWith('alias/aws/'))
      throw invalid(`${p}.alias`, 'alias/aws/ is reserved for AWS managed keys');
    return a;
  });
  const keyId = optional(raw.keyId, (v) => {
    const id = string(v, `${p}.keyId`, {
      pattern:
        /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/\S+)$/,
      hint: 'a key id, mrk- id or key ARN',
    });
    const arnRegion = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(id)?.[1];
    if (arnRegion !== undefined && arnRegion !== region) {
      throw invalid(`${p}.keyId`, `the ARN is in ${arnRegion} but region is ${region}`);
    }
    return id;
  });
  const keySpec = awsKeySpecFor(key);
  agrees(raw.keySpec, keySpec, `${p}.keySpec`);
  // RSA can go either way, so it must be said; the others have an obvious default.
  const usages: readonly AwsKeyUsage[] =
    key.kind === 'ec' && key.curve === 'secp256k1' ? ['SIGN_VERIFY'] : AWS_USAGES_BY_KIND[key.kind];
  const defaultUsage = key.kind === 'rsa' ? undefined : usages[0];
  const keyUsage =
    raw.keyUsage === undefined && defaultUsage !== undefined
      ? defaultUsage
      : oneOf(raw.keyUsage, `${p}.keyUsage`, usages, `for ${keySpec}`);
  // Asymmetric material is a PKCS#8 DER, too large for RSA-OAEP alone: only the AES key wrap hybrids fit.
  const usable: readonly AwsWrappingAlgorithm[] =
    key.kind === 'aes' ? AWS_WRAPPING_ALGORITHMS : ['RSA_AES_KEY_WRAP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1'];
  const wrappingAlgorithms =
    raw.wrappingAlgorithms === undefined
      ? (['RSA_AES_KEY_WRAP_SHA_256'] as const)
      : list(raw.wrappingAlgorithms, `${p}.wrappingAlgorithms`, (v, at) => {
          if (v === 'RSAES_PKCS1_V1_5')
            throw invalid(at, 'RSAES_PKCS1_V1_5 is no longer accepted by AWS KMS');
          return oneOf(
            v,
            at,
            usable,
            key.kind === 'aes' ? '' : `for ${keySpec} (asymmetric material needs AES key wrap)`,
          );
        });
  if (wrappingAlgorithms.length === 0)
    throw invalid(`${p}.wrappingAlgorithms`, `name at least one of ${usable.join(', ')}`);
  const wrappingKeySpec =
    raw.wrappingKeySpec === undefined
      ? 'RSA_4096'
      : oneOf(raw.wrappingKeySpec, `${p}.wrappingKeySpec`, ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const);
  return {
    cloud: 'aws',
    region,
    ...(alias === undefined ? {} : { alias }),
    ...(keyId === undefined ? {} : { keyId }),
    keySpec,
    keyUsage,
    wrappingAlgorithms,
    wrappingKeySpec,
    expiration: awsExpiration(raw.expiration, `${p}.expiration`, opts),
  };
}

function awsExpiration(value: unknown, path: string, opts: DefinitionOptions): AwsExpiration {
  const raw = object(value, path, ['model', 'validTo']);
  const model = oneOf(raw.model, `${path}.model`, ['DOES_NOT_EXPIRE', 'KEY_MATERIAL_EXPIRES'] as const);
  if (model === 'DOES_NOT_EXPIRE') {
    if (raw.validTo !== undefined) throw invalid(`${path}.validTo`, 'only with model KEY_MATERIAL_EXPIRES');
    return { model };
  }
  const text = string(raw.validTo, `${path}.validTo`);
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(Z|[+-]\d{2}:\d{2})$/.exec(text);
  const ms = m ? Date.parse(text) : Number.NaN;
  if (!m || Number.isNaN(ms)) {
    throw invalid(
      `${path}.validTo`,
      `${quoteValue(text)} is not an ISO-8601 instant in whole seconds (2026-06-30T00:00:00Z)`,
    );
  }
  if (opts.now !== undefined && (ms <= opts.now || ms > opts.now + 365 * DAY)) {
    throw invalid(
      `${path}.validTo`,
      `${text} must be in the future and at most 365 days away (AWS KMS limit)`,
    );
  }
  return { model, validTo: new Date(ms).toISOString().replace('.000Z', 'Z') };
}

function pinnedKek(value: unknown): PinnedKek {
  const raw = object(value, 'kek', ['id', 'sha256']);
  return {
    id: string(raw.id, 'kek.id', { max: 512 }),
    sha256: string(raw.sha256, 'kek.sha256', {
      pattern: /^[0-9a-fA-F]{64}$/,
      hint: 'SHA-256 of the KEK SubjectPublicKeyInfo DER, 64 hex digits',
    }).toLowerCase(),
  };
}

function quorumPolicy(value: unknown, requester: string): QuorumPolicy {
  const raw = object(value, 'quorum', ['required', 'approvers', 'window', 'vetoOnReject']);
  const required = integer(raw.required, 'quorum.required', 1, MAX_APPROVERS);
  const approvers = list(raw.approvers, 'quorum.approvers', approver);
  if (approvers.length === 0) throw invalid('quorum.approvers', 'name at least one approver');
  if (approvers.length > MAX_APPROVERS)
    throw invalid('quorum.approvers', `at most ${MAX_APPROVERS} approvers`);
  approvers.forEach((a, i) => {
    const clash = approvers.findIndex((b) => b.id.toLowerCase() === a.id.toLowerCase());
    if (clash !== i)
      throw invalid(`quorum.approvers[${i}].id`, `${quoteValue(a.id)} is already approvers[${clash}]`);
    const sameKey = approvers.findIndex((b) => b.publicKey.raw === a.publicKey.raw);
    if (sameKey !== i) {
      throw invalid(
        `quorum.approvers[${i}].publicKey`,
        `same key as approvers[${sameKey}]: approvers must be distinct people`,
      );
    }
  });
  const eligible = approvers.filter((a) => a.id !== requester).length;
  if (required > eligible) {
    throw invalid(
      'quorum.required',
      `${required} exceeds the ${eligible} eligible approvers (the requester ${requester} never counts)`,
    );
  }
  return {
    required,
    approvers,
    windowMs: duration(raw.window, 'quorum.window', { min: MINUTE, max: 90 * DAY }),
    vetoOnReject: boolean(raw.vetoOnReject, 'quorum.vetoOnReject'),
  };
}

function approver(value: unknown, path: string): Approver {
  const raw = object(value, path, ['id', 'name', 'role', 'publicKey']);
  const id = identity(raw.id, `${path}.id`);
  const name = optional(raw.name, (v) => string(v, `${path}.name`, { max: 200 }));
  const role = string(raw.role, `${path}.role`, {
    pattern: /^[A-Za-z][A-Za-z0-9 ._-]{0,63}$/,
    hint: 'e.g. security-officer',
  });
  if (raw.publicKey === undefined) throw invalid(`${path}.publicKey`, 'missing');
  const key = parseApproverKey(raw.publicKey);
  if ('problem' in key) throw invalid(`${path}.publicKey`, key.problem);
  return { id, ...(name === undefined ? {} : { name }), role, publicKey: key };
}

// ---- field readers: each returns a typed value or throws one line naming the field ----

function object(value: unknown, path: string, allowed: readonly string[]): Raw {
  if (value === undefined || value === null) throw invalid(path, 'missing');
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalid(path, `must be a mapping, found ${show(value)}`);
  const raw = value as Raw;
  for (const k of Object.keys(raw)) {
    if (!allowed.includes(k)) {
      throw invalid(
        path === '(root)' ? k : `${path}.${k}`,
        `unknown field (allowed here: ${allowed.join(', ')})`,
      );
    }
  }
  return raw;
}

function string(
  value: unknown,
  path: string,
  rule: { pattern?: RegExp; max?: number; hint?: string } = {},
): string {
  if (value === undefined || value === null) throw invalid(path, 'missing');
  if (typeof value !== 'string') throw invalid(path, `must be a string, found ${show(value)}`);
  if (value.trim().length === 0) throw invalid(path, 'must not be empty');
  if (rule.max !== undefined && value.length > rule.max)
    throw invalid(path, `longer than ${rule.max} characters`);
  if (rule.pattern && !rule.pattern.test(value)) {
    throw invalid(path, `${quoteValue(value)} is not valid${rule.hint ? ` (${rule.hint})` : ''}`);
  }
  return value;
}

function identity(value: unknown, path: string): string {
  return string(value, path, {
    pattern: IDENTITY,
    hint: '1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit',
  });
}

function boolean(value: unknown, path: string, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'boolean')
    throw invalid(
      path,
      value === undefined ? 'missing (true or false)' : `must be true or false, found ${show(value)}`,
    );
  return value;
}

function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw invalid(path, `must be a whole number, found ${show(value)}`);
  if (value < min || value > max) throw invalid(path, `${value} is outside ${min}..${max}`);
  return value;
}

function oneOf<T extends string | number>(
  value: unknown,
  path: string,
  allowed: readonly T[],
  context = '',
): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) {
    const what =
      value === undefined ? 'missing' : `${show(value)} is not allowed${context ? ` ${context}` : ''}`;
    throw invalid(path, `${what}; allowed: ${allowed.join(', ')}`);
  }
  return found;
}

function list<T>(value: unknown, path: string, item: (v: unknown, path: string) => T): T[] {
  if (value === undefined || value === null) throw invalid(path, 'missing');
  if (!Array.isArray(value)) throw invalid(path, `must be a list, found ${show(value)}`);
  const items = value.map((v, i) => item(v, `${path}[${i}]`));
  items.forEach((v, i) => {
    if (typeof v === 'string' && items.indexOf(v) !== i)
      throw invalid(`${path}[${i}]`, `${quoteValue(v)} is listed twice`);
  });
  return items;
}

function optional<T>(value: unknown, read: (v: unknown) => T): T | undefined {
  return value === undefined || value === null ? undefined : read(value);
}

/** A derived value the file may also state: if stated, it must agree (no silent second source of truth). */
function agrees(value: unknown, derived: string | undefined, path: string): void {
  if (value !== undefined && value !== derived) {
    throw invalid(path, `${show(value)} contradicts key.spec, which makes it ${derived ?? 'absent'}`);
  }
}

/** `72h`, `30m`, `7d`, `1d12h`, `90s`. */
export function parseDuration(text: string): number | undefined {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!m || text.trim() === '') return undefined;
  const [, d = '0', h = '0', min = '0', s = '0'] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * MINUTE + Number(s) * 1000;
}

function duration(value: unknown, path: string, range: { min: number; max: number }): number {
  const text = typeof value === 'number' ? '' : string(value, path);
  const ms = parseDuration(text);
  if (ms === undefined) throw invalid(path, `${show(value)} is not a duration (e.g. 30m, 72h, 7d, 1d12h)`);
  if (ms < range.min || ms > range.max) {
    throw invalid(path, `${text} is outside ${formatDuration(range.min)}..${formatDuration(range.max)}`);
  }
  return ms;
}

/** `3d`, `72h`... the shortest exact spelling, for messages and reports. */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', DAY],
    ['h', 60 * MINUTE],
    ['m', MINUTE],
    ['s', 1000],
  ];
  let rest = ms;
  let out = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out || '0s';
}

function httpsOrigin(value: unknown, path: string): string {
  const text = string(value, path, { max: 2048 });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(path, `${quoteValue(text)} is not a URL`);
  }
  if (url.protocol !== 'https:') throw invalid(path, 'must be https:// (the Azure SDK refuses plain http)');
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    (url.pathname !== '/' && url.pathname !== '')
  ) {
    throw invalid(path, 'must be the vault origin only, e.g. https://contoso.vault.azure.net');
  }
  return url.origin;
}

function refuseSecrets(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) {
      throw invalid(path || '(root)', 'holds a PRIVATE key: a ceremony definition carries public keys only');
    }
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    const at = path ? (Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`) : k;
    if (!Array.isArray(value) && SECRET_FIELD.test(k)) {
      throw invalid(
        at,
        'secrets never go in a ceremony definition: the worker reads the HSM PIN of hsm.profile from its own secret config',
      );
    }
    refuseSecrets(v, at);
  }
}

function show(value: unknown): string {
  if (typeof value === 'string') return quoteValue(value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
