/**
 * The vault itself: keys, versions, soft-deleted keys, persisted after every change. Methods take validated
 * requests and return the service's JSON bodies (KeyBundle, KeyItem, DeletedKeyBundle, KeyOperationResult).
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { JsonFile } from '../shared/store.js';
import { type UnwrappedTarget, unwrapByok } from './byok.js';
import {
  badParameter,
  deletedButRecoverable,
  deletedKeyNotFound,
  keyDisabled,
  keyNotFound,
  keyOutsideValidity,
  operationForbidden,
} from './errors.js';
import { curveOfKey, generateEc, generateOct, generateRsa, publicJwk } from './keys.js';
import {
  type CurveName,
  DEFAULT_OPS,
  familyOf,
  type KeyOp,
  type KeyType,
  OPS_BY_FAMILY,
  parseVaultState,
  type StoredKeyVersion,
  type VaultMode,
  type VaultState,
} from './model.js';
import * as ops from './operations.js';

export interface KeyAttributesInput {
  readonly enabled?: boolean;
  readonly nbf?: number;
  readonly exp?: number;
  readonly exportable?: boolean;
}

export interface CreateKeyInput {
  readonly kty: KeyType;
  readonly keySize?: number;
  readonly publicExponent?: number;
  readonly crv?: CurveName;
  readonly keyOps?: KeyOp[];
  readonly attributes?: KeyAttributesInput;
  readonly tags?: Record<string, string>;
}

export interface ImportKeyInput {
  readonly kty: KeyType;
  readonly crv?: CurveName;
  readonly keyOps?: KeyOp[];
  /** base64url of the .byok file (BYOK import). */
  readonly keyHsm?: string;
  /** A plain private JWK (software import), used when key_hsm is absent. */
  readonly jwk?: Record<string, string>;
  readonly attributes?: KeyAttributesInput;
  readonly tags?: Record<string, string>;
}

export interface UpdateKeyInput {
  readonly keyOps?: KeyOp[];
  readonly attributes?: KeyAttributesInput;
  readonly tags?: Record<string, string>;
}

const RETENTION_DAYS = 90;

export class Vault {
  private state: VaultState;
  private readonly file: JsonFile<VaultState>;

  constructor(
    stateDir: string,
    readonly mode: VaultMode,
    private readonly now: () => Date,
  ) {
    this.file = new JsonFile(join(stateDir, 'keyvault-state.json'), parseVaultState);
    this.state = this.file.load(() => ({ formatVersion: 1, mode, keys: {}, deleted: {} }));
    if (this.state.mode !== mode) {
      throw new Error(
        `the state folder holds a ${this.state.mode} emulator's keys; start it in that mode or use another folder`,
      );
    }
  }

  private seconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  private save(): void {
    this.file.save(this.state);
  }

  // --- reading -------------------------------------------------------------------------------------------

  find(name: string, version?: string): StoredKeyVersion | undefined {
    const versions = this.state.keys[name];
    if (!versions?.length) return undefined;
    if (!version) return versions[versions.length - 1];
    return versions.find((v) => v.version === version);
  }

  get(name: string, version?: string): StoredKeyVersion {
    const key = this.find(name, version);
    if (!key) throw keyNotFound(name, version);
    return key;
  }

  bundle(base: string, key: StoredKeyVersion): Record<string, unknown> {
    return {
      key: publicJwk(key, `${base}/keys/${key.name}/${key.version}`),
      attributes: this.attributes(key),
      ...(key.tags ? { tags: key.tags } : {}),
    };
  }

  private attributes(key: StoredKeyVersion): Record<string, unknown> {
    return {
      enabled: key.enabled,
      ...(key.nbf === undefined ? {} : { nbf: key.nbf }),
      ...(key.exp === undefined ? {} : { exp: key.exp }),
      created: key.created,
      updated: key.updated,
      recoveryLevel: this.mode === 'vault' ? 'Recoverable+Purgeable' : 'CustomizedRecoverable+Purgeable',
      recoverableDays: RETENTION_DAYS,
      ...(key.exportable === undefined ? {} : { exportable: key.exportable }),
    };
  }

  listKeys(base: string): Record<string, unknown> {
    const value = Object.values(this.state.keys)
      .map((versions) => versions[versions.length - 1])
      .filter((k): k is StoredKeyVersion => k !== undefined)
      .map((k) => ({
        kid: `${base}/keys/${k.name}`,
        attributes: this.attributes(k),
        ...(k.tags ? { tags: k.tags } : {}),
      }));
    return { value, nextLink: null };
  }

  listVersions(base: string, name: string): Record<string, unknown> {
    const versions = this.state.keys[name];
    if (!versions?.length) throw keyNotFound(name);
    const value = versions.map((k) => ({
      kid: `${base}/keys/${k.name}/${k.version}`,
      attributes: this.attributes(k),
      ...(k.tags ? { tags: k.tags } : {}),
    }));
    return { value, nextLink: null };
  }

  // --- writing -------------------------------------------------------------------------------------------

  private checkOps(kty: KeyType, keyOps: KeyOp[] | undefined): KeyOp[] {
    const family = familyOf(kty);
    if (keyOps === undefined) return [...DEFAULT_OPS[family]];
    const allowed = OPS_BY_FAMILY[family].filter((op) => op !== 'import' || kty === 'RSA-HSM');
    const bad = keyOps.filter((op) => !allowed.includes(op));
    if (bad.length > 0) {
      throw badParameter(
        `Unsupported key operation(s): ${bad.map((o) => `"${o}"`).join(', ')}. ` +
          `Supported values are ${allowed.map((o) => `"${o}"`).join(', ')}.`,
      );
    }
    return [...new Set(keyOps)];
  }

  private checkKty(kty: KeyType): void {
    if (this.mode === 'managedhsm' && !kty.endsWith('-HSM')) {
      throw badParameter(
        `Managed HSM only holds HSM keys (RSA-HSM, EC-HSM, oct-HSM); kty ${kty} is not supported.`,
      );
    }
    if (this.mode === 'vault' && kty === 'oct-HSM') {
      throw badParameter('oct-HSM keys are only supported by Managed HSM.');
    }
  }

  private ensureNotDeleted(name: string): void {
    if (this.state.deleted[name]) throw deletedButRecoverable(name);
  }

  private addVersion(
    name: string,
    fields: Omit<StoredKeyVersion, 'name' | 'version' | 'created' | 'updated' | 'enabled'>,
    attributes: KeyAttributesInput | undefined,
    tags: Record<string, string> | undefined,
  ): StoredKeyVersion {
    const t = this.seconds();
    const key: StoredKeyVersion = {
      name,
      version: randomBytes(16).toString('hex'),
      ...fields,
      enabled: attributes?.enabled ?? true,
      ...(attributes?.nbf === undefined ? {} : { nbf: attributes.nbf }),
      ...(attributes?.exp === undefined ? {} : { exp: attributes.exp }),
      ...(attributes?.exportable === undefined ? {} : { exportable: attributes.exportable }),
      created: t,
      updated: t,
      ...(tags ? { tags } : {}),
    };
    const versions = this.state.keys[name] ?? [];
    versions.push(key);
    this.state.keys[name] = versions;
    this.save();
    return key;
  }

  create(name: string, input: CreateKeyInput): StoredKeyVersion {
    this.checkKty(input.kty);
    this.ensureNotDeleted(name);
    const keyOps = this.checkOps(input.kty, input.keyOps);
    const family = familyOf(input.kty);
    if (family === 'rsa') {
      const bits = input.keySize ?? 2048;
      if (![2048, 3072, 4096].includes(bits)) {
        throw badParameter(`The specified RSA key size ${bits} is not supported; use 2048, 3072 or 4096.`);
      }
      const e = input.publicExponent ?? 65537;
      if (e !== 65537) throw badParameter('Only the public exponent 65537 is supported.');
      return this.addVersion(
        name,
        { kty: input.kty, keyOps, keySize: bits, origin: 'generated', ...generateRsa(bits, e) },
        input.attributes,
        input.tags,
      );
    }
    if (family === 'ec') {
      const crv = input.crv ?? 'P-256';
      return this.addVersion(
        name,
        { kty: input.kty, keyOps, crv, origin: 'generated', ...generateEc(crv) },
        input.attributes,
        input.tags,
      );
    }
    const bits = input.keySize ?? 256;
    if (![128, 192, 256].includes(bits))
      throw badParameter(`The specified oct-HSM key size ${bits} is not supported; use 128, 192 or 256.`);
    return this.addVersion(
      name,
      { kty: input.kty, keyOps, keySize: bits, origin: 'generated', ...generateOct(bits) },
      input.attributes,
      input.tags,
    );
  }

  import(name: string, input: ImportKeyInput): StoredKeyVersion {
    this.checkKty(input.kty);
    this.ensureNotDeleted(name);
    const keyOps = this.checkOps(input.kty, input.keyOps);
    if (keyOps.includes('import'))
      throw badParameter('An imported key cannot be a key exchange key (key_ops "import").');
    if (input.keyHsm !== undefined) {
      const target: UnwrappedTarget = unwrapByok(
        { kty: input.kty, keyHsm: input.keyHsm, ...(input.crv ? { crv: input.crv } : {}) },
        this.mode,
        (kekName, kekVersion) => this.find(kekName, kekVersion),
      );
      return this.addVersion(
        name,
        {
          kty: input.kty,
          keyOps,
          keySize: target.keySize,
          ...(target.crv ? { crv: target.crv } : {}),
          ...(target.privateKeyPem ? { privateKeyPem: target.privateKeyPem } : {}),
          ...(target.secretKey ? { secretKey: target.secretKey } : {}),
          origin: 'byok',
          importedWith: {
            kekKid: target.kekKid,
            generator: target.generator,
            trailingZeros: target.trailingZeros,
          },
        },
        input.attributes,
        input.tags,
      );
    }
    if (!input.jwk) throw badParameter("The key to import has neither 'key_hsm' nor private key parameters.");
    return this.importJwk(name, input, keyOps);
  }

  private importJwk(name: string, input: ImportKeyInput, keyOps: KeyOp[]): StoredKeyVersion {
    const jwk = input.jwk ?? {};
    const family = familyOf(input.kty);
    if (family === 'oct') {
      const k = jwk.k;
      if (!k) throw badParameter("An oct key import needs 'k'.");
      const secret = Buffer.from(k, 'base64url');
      if (![16, 24, 32].includes(secret.length))
        throw badParameter('An oct key must be 128, 192 or 256 bits.');
      return this.addVersion(
        name,
        {
          kty: input.kty,
          keyOps,
          keySize: secret.length * 8,
          secretKey: secret.toString('base64'),
          origin: 'jwk',
        },
        input.attributes,
        input.tags,
      );
    }
    const nodeJwk =
      family === 'rsa'
        ? { kty: 'RSA', n: jwk.n, e: jwk.e, d: jwk.d, p: jwk.p, q: jwk.q, dp: jwk.dp, dq: jwk.dq, qi: jwk.qi }
        : { kty: 'EC', crv: jwk.crv === 'P-256K' ? 'secp256k1' : jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d };
    let pem: string;
    let privateKey: ReturnType<typeof createPrivateKey>;
    try {
      privateKey = createPrivateKey({ key: nodeJwk, format: 'jwk' });
      pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    } catch {
      throw badParameter(
        `${family === 'rsa' ? 'RSA' : 'EC'} key is not valid - cannot instantiate crypto service`,
      );
    }
    const crv = family === 'ec' ? curveOfKey(privateKey) : undefined;
    return this.addVersion(
      name,
      {
        kty: input.kty,
        keyOps,
        ...(crv ? { crv } : { keySize: privateKey.asymmetricKeyDetails?.modulusLength ?? 0 }),
        privateKeyPem: pem,
        origin: 'jwk',
      },
      input.attributes,
      input.tags,
    );
  }

  update(name: string, version: string | undefined, input: UpdateKeyInput): StoredKeyVersion {
    const key = this.get(name, version);
    if (input.keyOps) key.keyOps = this.checkOps(key.kty, input.keyOps);
    const a = input.attributes;
    if (a?.enabled !== undefined) key.enabled = a.enabled;
    if (a?.nbf !== undefined) key.nbf = a.nbf;
    if (a?.exp !== undefined) key.exp = a.exp;
    if (input.tags) key.tags = input.tags;
    key.updated = this.seconds();
    this.save();
    return key;
  }

  delete(base: string, name: string): Record<string, unknown> {
    const versions = this.state.keys[name];
    const current = versions?.[versions.length - 1];
    if (!versions || !current) throw keyNotFound(name);
    const deletedDate = this.seconds();
    const record = { deletedDate, scheduledPurgeDate: deletedDate + RETENTION_DAYS * 86400, versions };
    delete this.state.keys[name];
    this.state.deleted[name] = record;
    this.save();
    return this.deletedBundle(base, name);
  }

  deletedBundle(base: string, name: string): Record<string, unknown> {
    const record = this.state.deleted[name];
    const current = record?.versions[record.versions.length - 1];
    if (!record || !current) throw deletedKeyNotFound(name);
    return {
      ...this.bundle(base, current),
      recoveryId: `${base}/deletedkeys/${name}`,
      deletedDate: record.deletedDate,
      scheduledPurgeDate: record.scheduledPurgeDate,
    };
  }

  listDeleted(base: string): Record<string, unknown> {
    const value = Object.keys(this.state.deleted).map((name) => {
      const b = this.deletedBundle(base, name);
      const { key: _key, ...rest } = b;
      return { ...rest, kid: `${base}/keys/${name}` };
    });
    return { value, nextLink: null };
  }

  purge(name: string): void {
    if (!this.state.deleted[name]) throw deletedKeyNotFound(name);
    delete this.state.deleted[name];
    this.save();
  }

  recover(base: string, name: string): Record<string, unknown> {
    const record = this.state.deleted[name];
    if (!record) throw deletedKeyNotFound(name);
    this.state.keys[name] = record.versions;
    delete this.state.deleted[name];
    this.save();
    return this.bundle(base, this.get(name));
  }

  // --- key operations ------------------------------------------------------------------------------------

  usable(name: string, version: string | undefined, op: KeyOp): StoredKeyVersion {
    const key = this.get(name, version);
    if (!key.enabled) throw keyDisabled(op);
    if (!key.keyOps.includes(op)) throw operationForbidden(op);
    const t = this.seconds();
    if (key.nbf !== undefined && t < key.nbf) throw keyOutsideValidity(op, 'not yet valid', 'KeyNotYetValid');
    if (key.exp !== undefined && t > key.exp) throw keyOutsideValidity(op, 'expired', 'KeyExpired');
    return key;
  }

  sign(name: string, version: string | undefined, alg: string, digest: Buffer): Buffer {
    return ops.sign(this.usable(name, version, 'sign'), alg, digest);
  }

  verify(name: string, version: string | undefined, alg: string, digest: Buffer, signature: Buffer): boolean {
    return ops.verify(this.usable(name, version, 'verify'), alg, digest, signature);
  }

  encrypt(name: string, version: string | undefined, p: ops.CipherParams): ops.CipherResult {
    return ops.encrypt(this.usable(name, version, 'encrypt'), p);
  }

  decrypt(name: string, version: string | undefined, p: ops.CipherParams): ops.CipherResult {
    return ops.decrypt(this.usable(name, version, 'decrypt'), p);
  }

  wrapKey(name: string, version: string | undefined, alg: string, value: Buffer): Buffer {
    return ops.wrapKey(this.usable(name, version, 'wrapKey'), alg, value);
  }

  unwrapKey(name: string, version: string | undefined, alg: string, value: Buffer): Buffer {
    return ops.unwrapKey(this.usable(name, version, 'unwrapKey'), alg, value);
  }
}
