/**
 * The KMS operations over the stored keys. Each method takes the JSON body as received, validates it at the
 * edge, and returns the response body of the real API (JSON 1.1: blobs base64, timestamps epoch seconds).
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto';
import { join } from 'node:path';
import type { Clock } from '../shared/clock.js';
import {
  DIGEST_BYTES,
  type DigestHash,
  type SignatureScheme,
  signDigest,
  verifyDigest,
} from '../shared/digest-sign.js';
import { JsonFile } from '../shared/store.js';
import {
  asObject,
  base64Field,
  type JsonObject,
  optEnum,
  optInteger,
  optNumber,
  optObject,
  optString,
  reqEnum,
  reqString,
} from '../shared/validate.js';
import {
  incorrectKeyMaterial,
  invalidCiphertext,
  invalidKeyUsage,
  invalidState,
  KmsError,
  notFound,
  unsupported,
  validation,
} from './errors.js';
import { checkWrappingCombination, unwrapMaterial } from './material.js';
import {
  type ExpirationModel,
  type KeyMaterialRecord,
  type KmsKeyRecord,
  type KmsState,
  parseKmsState,
  type TagRecord,
} from './model.js';
import {
  ECC_CURVE,
  ENCRYPTION_ALGORITHMS,
  encryptionAlgorithmsFor,
  familyOf,
  KEY_SPECS,
  KEY_USAGES,
  type KeySpec,
  MAC_ALGORITHM_OF,
  MAC_ALGORITHMS,
  ORIGINS,
  RSA_BITS,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
  signingAlgorithmsFor,
  usagesFor,
  WRAPPING_ALGORITHMS,
  WRAPPING_KEY_SPECS,
} from './specs.js';

function generateRsaKeyPair(bits: number): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: bits }, (err, publicKey, privateKey) =>
      err ? reject(err) : resolve({ publicKey, privateKey }),
    );
  });
}

const TOKEN_MAGIC = Buffer.from('KMSEMU-IMPORT-TOKEN-1:');
const CIPHERTEXT_MAGIC = Buffer.from('KMSEMU1');
const DAY_MS = 86_400_000;

export interface KmsServiceOptions {
  readonly stateDir: string;
  readonly clock: Clock;
  readonly region: string;
  readonly accountId: string;
  /**
   * RSA_2048 wrapping key pairs generated ahead of time, in the background, for GetParametersForImport
   * (each still handed out once). For load tests on one machine: the real service generates them on its
   * own hardware, here they would compete for the CPU with the system under test. Default 0.
   */
  readonly wrappingKeyPool?: number;
}

type Body = JsonObject;
const seconds = (ms: number) => ms / 1000;
const b64 = (buf: Buffer) => buf.toString('base64');

export class KmsService {
  private readonly state: KmsState;
  private readonly file: JsonFile<KmsState>;

  private readonly pool: Promise<{ privateKey: KeyObject; publicKey: KeyObject }>[] = [];

  constructor(private readonly opts: KmsServiceOptions) {
    this.file = new JsonFile(join(opts.stateDir, 'kms-state.json'), parseKmsState);
    this.state = this.file.load(() => ({ formatVersion: 1, keys: {}, tokens: {}, aliases: {} }));
    for (let i = 0; i < (opts.wrappingKeyPool ?? 0); i++) this.pool.push(generateRsaKeyPair(2048));
  }

  /** Resolves when the pre-generated wrapping keys are ready (at once without a pool). */
  async ready(): Promise<void> {
    await Promise.all(this.pool);
  }

  private wrappingKeyPair(bits: number): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
    return (bits === 2048 ? this.pool.shift() : undefined) ?? generateRsaKeyPair(bits);
  }

  private now(): number {
    return this.opts.clock.now().getTime();
  }

  private save(): void {
    this.file.save(this.state);
  }

  /** Dispatches `TrentService.<op>`; undefined for operations this emulator does not implement. */
  handler(op: string): ((body: Body) => unknown) | undefined {
    // A handler may return a promise (GetParametersForImport generates its RSA key off the event loop).
    const table: Record<string, (body: Body) => unknown> = {
      CreateKey: (b) => this.createKey(b),
      DescribeKey: (b) => ({ KeyMetadata: this.metadata(this.key(b, 'alias')) }),
      ListKeys: (b) => this.listKeys(b),
      CreateAlias: (b) => this.createAlias(b),
      UpdateAlias: (b) => this.updateAlias(b),
      DeleteAlias: (b) => this.deleteAlias(b),
      ListAliases: (b) => this.listAliases(b),
      ListResourceTags: (b) => this.listResourceTags(b),
      TagResource: (b) => this.tagResource(b),
      UntagResource: (b) => this.untagResource(b),
      GetParametersForImport: (b) => this.getParametersForImport(b),
      ImportKeyMaterial: (b) => this.importKeyMaterial(b),
      DeleteImportedKeyMaterial: (b) => this.deleteImportedKeyMaterial(b),
      RotateKeyOnDemand: (b) => this.rotateKeyOnDemand(b),
      ListKeyRotations: (b) => this.listKeyRotations(b),
      Encrypt: (b) => this.encrypt(b),
      Decrypt: (b) => this.decrypt(b),
      Sign: (b) => this.sign(b),
      Verify: (b) => this.verify(b),
      GetPublicKey: (b) => this.getPublicKey(b),
      GenerateMac: (b) => this.generateMac(b),
      VerifyMac: (b) => this.verifyMac(b),
      ScheduleKeyDeletion: (b) => this.scheduleKeyDeletion(b),
      CancelKeyDeletion: (b) => this.cancelKeyDeletion(b),
      EnableKey: (b) => this.setEnabled(b, true),
      DisableKey: (b) => this.setEnabled(b, false),
    };
    return table[op];
  }

  // --- keys ----------------------------------------------------------------------------------------------

  /**
   * The KeyId of a request. `alias`: the operation also takes an alias name (`alias/x`) or alias ARN, as
   * DescribeKey and the cryptographic operations do in KMS; the others (import, deletion, tags, CreateAlias's
   * target) take a key id or key ARN only.
   */
  private key(body: Body, alias?: 'alias'): KmsKeyRecord {
    const id = reqString(body, 'KeyId');
    return this.lookup(id, alias);
  }

  private lookup(id: string, alias?: 'alias'): KmsKeyRecord {
    const aliasName = aliasNameOf(id);
    if (aliasName !== undefined) {
      if (alias !== 'alias') throw notFound(id);
      const record = this.state.aliases[aliasName];
      if (!record) throw aliasNotFound(this.aliasArn(aliasName));
      return this.lookup(record.targetKeyId);
    }
    const keyId = /^arn:aws:kms:[^:]+:\d+:key\/(.+)$/.exec(id)?.[1] ?? id;
    const key = this.state.keys[keyId];
    if (!key) throw notFound(id);
    this.expire(key);
    return key;
  }

  private aliasArn(aliasName: string): string {
    return `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:${aliasName}`;
  }

  /** KMS deletes expired imported material when its ValidTo passes. */
  private expire(key: KmsKeyRecord): void {
    let changed = false;
    for (const m of key.materials) {
      if (
        m.imported &&
        m.expirationModel === 'KEY_MATERIAL_EXPIRES' &&
        m.validTo !== undefined &&
        m.validTo <= this.now()
      ) {
        m.imported = false;
        changed = true;
      }
    }
    if (changed) this.save();
  }

  private current(key: KmsKeyRecord): KeyMaterialRecord | undefined {
    return key.materials.find((m) => m.state === 'CURRENT');
  }

  private keyState(key: KmsKeyRecord): string {
    if (key.deletionDate !== undefined) return 'PendingDeletion';
    if (!this.current(key)?.imported) return 'PendingImport';
    return key.enabled ? 'Enabled' : 'Disabled';
  }

  private metadata(key: KmsKeyRecord): Record<string, unknown> {
    const family = familyOf(key.keySpec);
    const current = this.current(key);
    return {
      AWSAccountId: this.opts.accountId,
      KeyId: key.keyId,
      Arn: key.arn,
      CreationDate: seconds(key.createdAt),
      Enabled: this.keyState(key) === 'Enabled',
      Description: key.description,
      KeyUsage: key.keyUsage,
      KeyState: this.keyState(key),
      Origin: key.origin,
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      MultiRegion: false,
      ...(key.keyUsage === 'ENCRYPT_DECRYPT'
        ? { EncryptionAlgorithms: encryptionAlgorithmsFor(key.keySpec) }
        : {}),
      ...(key.keyUsage === 'SIGN_VERIFY' ? { SigningAlgorithms: signingAlgorithmsFor(key.keySpec) } : {}),
      ...(family === 'hmac' ? { MacAlgorithms: [MAC_ALGORITHM_OF[key.keySpec]] } : {}),
      ...(key.origin === 'EXTERNAL' && current?.imported && current.expirationModel
        ? {
            ExpirationModel: current.expirationModel,
            ...(current.validTo ? { ValidTo: seconds(current.validTo) } : {}),
          }
        : {}),
      ...(key.deletionDate !== undefined
        ? { DeletionDate: seconds(key.deletionDate), PendingDeletionWindowInDays: key.pendingWindowInDays }
        : {}),
      ...(family === 'symmetric' && current ? { CurrentKeyMaterialId: current.id } : {}),
    };
  }

  private createKey(body: Body): unknown {
    const keySpec =
      optEnum(body, 'KeySpec', KEY_SPECS) ??
      optEnum(body, 'CustomerMasterKeySpec', KEY_SPECS) ??
      'SYMMETRIC_DEFAULT';
    const keyUsage = optEnum(body, 'KeyUsage', KEY_USAGES) ?? 'ENCRYPT_DECRYPT';
    const origin = optEnum(body, 'Origin', ORIGINS) ?? 'AWS_KMS';
    const description = optString(body, 'Description') ?? '';
    const tags = parseTags(body.Tags, 'Tags') ?? [];
    if (!usagesFor(keySpec).includes(keyUsage)) {
      throw validation(`KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}.`);
    }
    const keyId = randomUUID();
    const key: KmsKeyRecord = {
      keyId,
      arn: `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:key/${keyId}`,
      createdAt: this.now(),
      description,
      keySpec,
      keyUsage,
      origin,
      enabled: true,
      materials: origin === 'AWS_KMS' ? [this.generatedMaterial(keyId, keySpec)] : [],
      tags,
    };
    this.state.keys[keyId] = key;
    this.save();
    return { KeyMetadata: this.metadata(key) };
  }

  private generatedMaterial(keyId: string, spec: KeySpec): KeyMaterialRecord {
    const family = familyOf(spec);
    if (family === 'symmetric' || family === 'hmac') {
      const secret = randomBytes(family === 'symmetric' ? 32 : (HMAC_GENERATED_BYTES[spec] ?? 32));
      return { id: materialId(keyId, secret), secret: b64(secret), state: 'CURRENT', imported: true };
    }
    const { privateKey } =
      family === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: RSA_BITS[spec] ?? 2048 })
        : generateKeyPairSync('ec', { namedCurve: ECC_CURVE[spec] ?? 'prime256v1' });
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    return {
      id: materialId(keyId, der),
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      state: 'CURRENT',
      imported: true,
    };
  }

  private listKeys(body: Body): unknown {
    const all = Object.values(this.state.keys).map((k) => ({ KeyId: k.keyId, KeyArn: k.arn }));
    const { items, page } = paginate(all, body, 1000, 100);
    return { Keys: items, ...page };
  }

  // --- aliases and tags ----------------------------------------------------------------------------------

  private aliasName(body: Body): string {
    const name = reqString(body, 'AliasName');
    if (name.length > 256 || !/^alias\/[A-Za-z0-9:/_-]+$/.test(name)) {
      throw new KmsError(
        'InvalidAliasNameException',
        `Alias name ${name} is not valid: it must start with alias/ and contain only letters, digits, /, _, - and :.`,
      );
    }
    return name;
  }

  /** The key an alias may point to: a key id or key ARN (never another alias), not pending deletion. */
  private aliasTarget(body: Body): KmsKeyRecord {
    const key = this.lookup(reqString(body, 'TargetKeyId'));
    if (key.deletionDate !== undefined) throw invalidState(`${key.arn} is pending deletion.`);
    return key;
  }

  private createAlias(body: Body): unknown {
    const name = this.aliasName(body);
    if (name.startsWith('alias/aws/')) {
      throw new KmsError(
        'InvalidAliasNameException',
        `Alias name ${name} is reserved: alias/aws/ is for AWS managed keys.`,
      );
    }
    const key = this.aliasTarget(body);
    if (this.state.aliases[name]) {
      throw new KmsError(
        'AlreadyExistsException',
        `An alias with the name ${this.aliasArn(name)} already exists`,
      );
    }
    const now = this.now();
    this.state.aliases[name] = { aliasName: name, targetKeyId: key.keyId, createdAt: now, updatedAt: now };
    this.save();
    return {};
  }

  private updateAlias(body: Body): unknown {
    const name = this.aliasName(body);
    const alias = this.state.aliases[name];
    if (!alias) throw aliasNotFound(this.aliasArn(name));
    const key = this.aliasTarget(body);
    const current = this.state.keys[alias.targetKeyId];
    // KMS only moves an alias between keys of the same type and usage.
    if (current && (current.keySpec !== key.keySpec || current.keyUsage !== key.keyUsage)) {
      throw validation(
        `${name} points to a ${current.keySpec} ${current.keyUsage} key; it cannot point to a ${key.keySpec} ${key.keyUsage} key.`,
      );
    }
    alias.targetKeyId = key.keyId;
    alias.updatedAt = this.now();
    this.save();
    return {};
  }

  private deleteAlias(body: Body): unknown {
    const name = this.aliasName(body);
    if (!this.state.aliases[name]) throw aliasNotFound(this.aliasArn(name));
    delete this.state.aliases[name];
    this.save();
    return {};
  }

  private listAliases(body: Body): unknown {
    const keyIdParam = optString(body, 'KeyId');
    const key = keyIdParam === undefined ? undefined : this.lookup(keyIdParam);
    const all = Object.values(this.state.aliases)
      .filter((a) => key === undefined || a.targetKeyId === key.keyId)
      .sort((a, b) => (a.aliasName < b.aliasName ? -1 : a.aliasName > b.aliasName ? 1 : 0))
      .map((a) => ({
        AliasName: a.aliasName,
        AliasArn: this.aliasArn(a.aliasName),
        TargetKeyId: a.targetKeyId,
        CreationDate: seconds(a.createdAt),
        LastUpdatedDate: seconds(a.updatedAt),
      }));
    const { items, page } = paginate(all, body, 100, 50);
    return { Aliases: items, ...page };
  }

  private listResourceTags(body: Body): unknown {
    const key = this.key(body);
    const { items, page } = paginate(key.tags ?? [], body, 50, 50);
    return { Tags: items, ...page };
  }

  private tagResource(body: Body): unknown {
    const key = this.key(body);
    const tags = parseTags(body.Tags, 'Tags');
    if (!tags) throw validation("'Tags' is required");
    if (key.deletionDate !== undefined) throw invalidState(`${key.arn} is pending deletion.`);
    const merged = new Map((key.tags ?? []).map((t) => [t.TagKey, t.TagValue]));
    for (const t of tags) merged.set(t.TagKey, t.TagValue);
    if (merged.size > MAX_TAGS)
      throw new KmsError('TagException', `A KMS key can have at most ${MAX_TAGS} tags.`);
    key.tags = [...merged].map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
    this.save();
    return {};
  }

  private untagResource(body: Body): unknown {
    const key = this.key(body);
    const names = body.TagKeys;
    if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string')) {
      throw validation("'TagKeys' must be a non-empty array of strings");
    }
    if (key.deletionDate !== undefined) throw invalidState(`${key.arn} is pending deletion.`);
    key.tags = (key.tags ?? []).filter((t) => !names.includes(t.TagKey));
    this.save();
    return {};
  }

  private setEnabled(body: Body, enabled: boolean): unknown {
    const key = this.key(body);
    if (key.deletionDate !== undefined) throw invalidState(`${key.arn} is pending deletion.`);
    key.enabled = enabled;
    this.save();
    return {};
  }

  private scheduleKeyDeletion(body: Body): unknown {
    const key = this.key(body);
    const days = optInteger(body, 'PendingWindowInDays') ?? 30;
    if (days < 7 || days > 30) throw validation('PendingWindowInDays must be between 7 and 30.');
    if (key.deletionDate !== undefined) throw invalidState(`${key.arn} is pending deletion.`);
    key.deletionDate = this.now() + days * DAY_MS;
    key.pendingWindowInDays = days;
    this.save();
    return {
      KeyId: key.arn,
      DeletionDate: seconds(key.deletionDate),
      KeyState: 'PendingDeletion',
      PendingWindowInDays: days,
    };
  }

  private cancelKeyDeletion(body: Body): unknown {
    const key = this.key(body);
    if (key.deletionDate === undefined) throw invalidState(`${key.arn} is not pending deletion.`);
    delete key.deletionDate;
    delete key.pendingWindowInDays;
    key.enabled = false;
    this.save();
    return { KeyId: key.arn };
  }

  // --- import --------------------------------------------------------------------------------------------

  private async getParametersForImport(body: Body): Promise<unknown> {
    const check = (): KmsKeyRecord => {
      const key = this.key(body);
      if (key.origin !== 'EXTERNAL')
        throw unsupported(`${key.arn} origin is ${key.origin} which is not valid for this operation.`);
      if (key.deletionDate !== undefined) throw invalidState(`${key.arn} is pending deletion.`);
      return key;
    };
    const algorithm = reqEnum(body, 'WrappingAlgorithm', WRAPPING_ALGORITHMS);
    const wrappingKeySpec = reqEnum(body, 'WrappingKeySpec', WRAPPING_KEY_SPECS);
    checkWrappingCombination(check().keySpec, algorithm, wrappingKeySpec);
    const bits = Number(wrappingKeySpec.slice(4));
    // In the thread pool, like a real service answering many callers: a synchronous RSA keygen would hold
    // every other request (and, in-process, the caller's own event loop) for its whole duration.
    const { privateKey, publicKey } = await this.wrappingKeyPair(bits);
    const key = check(); // it may have been scheduled for deletion meanwhile
    const tokenId = randomBytes(24).toString('hex');
    const validTo = this.now() + DAY_MS;
    this.state.tokens[tokenId] = {
      keyId: key.keyId,
      algorithm,
      wrappingKeySpec,
      wrappingPrivateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      validTo,
    };
    this.save();
    return {
      KeyId: key.arn,
      ImportToken: b64(Buffer.concat([TOKEN_MAGIC, Buffer.from(tokenId, 'hex')])),
      PublicKey: b64(publicKey.export({ format: 'der', type: 'spki' })),
      ParametersValidTo: seconds(validTo),
    };
  }

  private importKeyMaterial(body: Body): unknown {
    const key = this.key(body);
    const tokenBytes = base64Field(reqString(body, 'ImportToken'), 'ImportToken');
    const encrypted = base64Field(reqString(body, 'EncryptedKeyMaterial'), 'EncryptedKeyMaterial');
    const expirationModel: ExpirationModel =
      optEnum(body, 'ExpirationModel', ['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE']) ??
      'KEY_MATERIAL_EXPIRES';
    const validToSeconds = optNumber(body, 'ValidTo');
    const importType = optEnum(body, 'ImportType', ['EXISTING_KEY_MATERIAL', 'NEW_KEY_MATERIAL']);
    const wantedId = optString(body, 'KeyMaterialId');
    const description = optString(body, 'KeyMaterialDescription');

    if (key.origin !== 'EXTERNAL')
      throw unsupported(`${key.arn} origin is ${key.origin} which is not valid for this operation.`);
    if (key.deletionDate !== undefined) throw invalidState(`${key.arn} is pending deletion.`);
    const now = this.now();
    let validTo: number | undefined;
    if (expirationModel === 'KEY_MATERIAL_EXPIRES') {
      if (validToSeconds === undefined)
        throw validation('ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.');
      validTo = validToSeconds * 1000;
      if (validTo <= now) throw validation('ValidTo must be in the future.');
      if (validTo > now + 365 * DAY_MS) throw validation('ValidTo must be at most 365 days from now.');
    } else if (validToSeconds !== undefined) {
      throw validation('ValidTo must not be set when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.');
    }

    if (
      tokenBytes.length <= TOKEN_MAGIC.length ||
      !tokenBytes.subarray(0, TOKEN_MAGIC.length).equals(TOKEN_MAGIC)
    ) {
      throw new KmsError('InvalidImportTokenException', 'The import token is not valid.');
    }
    const tokenId = tokenBytes.subarray(TOKEN_MAGIC.length).toString('hex');
    const token = this.state.tokens[tokenId];
    if (!token) throw new KmsError('InvalidImportTokenException', 'The import token is not valid.');
    if (token.keyId !== key.keyId) {
      throw new KmsError(
        'InvalidImportTokenException',
        `The import token was issued for another KMS key, not ${key.arn}.`,
      );
    }
    if (token.validTo <= now) {
      throw new KmsError(
        'ExpiredImportTokenException',
        'The import token has expired; call GetParametersForImport again.',
      );
    }

    const unwrapped = unwrapMaterial(key.keySpec, token.algorithm, token.wrappingPrivateKeyPem, encrypted);
    const id = materialId(key.keyId, unwrapped.canonical);
    if (wantedId !== undefined && wantedId !== id) {
      throw incorrectKeyMaterial(`The key material does not match KeyMaterialId ${wantedId}.`);
    }
    const existing = key.materials.find((m) => m.id === id);
    const type = importType ?? (key.materials.length === 0 ? 'NEW_KEY_MATERIAL' : 'EXISTING_KEY_MATERIAL');
    const expiry = { expirationModel, ...(validTo === undefined ? {} : { validTo }) };

    if (type === 'EXISTING_KEY_MATERIAL') {
      if (!existing) {
        throw incorrectKeyMaterial(
          key.materials.length === 0
            ? 'No key material was ever imported into this KMS key; import it with ImportType NEW_KEY_MATERIAL.'
            : 'The key material is not the key material previously imported into this KMS key.',
        );
      }
      Object.assign(existing, expiry, { imported: true }, description === undefined ? {} : { description });
    } else {
      if (existing)
        throw incorrectKeyMaterial(
          'This key material is already associated with this KMS key; use ImportType EXISTING_KEY_MATERIAL.',
        );
      if (key.materials.length > 0 && key.keySpec !== 'SYMMETRIC_DEFAULT') {
        throw unsupported(
          `Only symmetric encryption keys can take new key material; ${key.keySpec} keys hold a single key material.`,
        );
      }
      if (key.materials.some((m) => m.state === 'PENDING_ROTATION')) {
        throw invalidState('Another key material is already pending rotation; rotate or delete it first.');
      }
      key.materials.push({
        id,
        ...(unwrapped.secret ? { secret: b64(unwrapped.secret) } : {}),
        ...(unwrapped.privateKeyPem ? { privateKeyPem: unwrapped.privateKeyPem } : {}),
        state: key.materials.length === 0 ? 'CURRENT' : 'PENDING_ROTATION',
        imported: true,
        ...expiry,
        ...(description === undefined ? {} : { description }),
      });
    }
    // A token pairs with one import: KMS's tokens are single-key, and reusing one is the client's bug.
    delete this.state.tokens[tokenId];
    this.save();
    return { KeyId: key.arn, KeyMaterialId: id };
  }

  private deleteImportedKeyMaterial(body: Body): unknown {
    const key = this.key(body);
    if (key.origin !== 'EXTERNAL')
      throw unsupported(`${key.arn} origin is ${key.origin} which is not valid for this operation.`);
    const wanted = optString(body, 'KeyMaterialId');
    const m = wanted === undefined ? this.current(key) : key.materials.find((x) => x.id === wanted);
    if (!m) throw notFound(wanted ?? key.arn);
    if (m.state === 'PENDING_ROTATION') {
      key.materials = key.materials.filter((x) => x !== m);
    } else {
      m.imported = false;
    }
    this.save();
    return { KeyId: key.arn, KeyMaterialId: m.id };
  }

  private rotateKeyOnDemand(body: Body): unknown {
    const key = this.key(body);
    if (key.keySpec !== 'SYMMETRIC_DEFAULT')
      throw unsupported(
        `On-demand rotation is only supported for symmetric encryption keys, not ${key.keySpec}.`,
      );
    if (this.keyState(key) !== 'Enabled') throw invalidState(`${key.arn} is ${this.keyState(key)}.`);
    let next: KeyMaterialRecord | undefined;
    if (key.origin === 'EXTERNAL') {
      next = key.materials.find((m) => m.state === 'PENDING_ROTATION' && m.imported);
      if (!next) {
        throw invalidState(
          'A key with imported key material needs new key material first: ImportKeyMaterial with ImportType NEW_KEY_MATERIAL, then RotateKeyOnDemand.',
        );
      }
    } else {
      next = { ...this.generatedMaterial(key.keyId, key.keySpec), state: 'PENDING_ROTATION' };
      key.materials.push(next);
    }
    const current = this.current(key);
    if (current) current.state = 'NON_CURRENT';
    next.state = 'CURRENT';
    next.rotationDate = this.now();
    this.save();
    return { KeyId: key.arn };
  }

  private listKeyRotations(body: Body): unknown {
    const key = this.key(body);
    const Rotations = key.materials.map((m) => ({
      KeyId: key.arn,
      KeyMaterialId: m.id,
      ...(m.description ? { KeyMaterialDescription: m.description } : {}),
      ...(key.origin === 'EXTERNAL'
        ? {
            ImportState: m.imported ? 'IMPORTED' : 'PENDING_IMPORT',
            ...(m.expirationModel ? { ExpirationModel: m.expirationModel } : {}),
          }
        : {}),
      KeyMaterialState: m.state,
      ...(m.validTo ? { ValidTo: seconds(m.validTo) } : {}),
      ...(m.rotationDate ? { RotationDate: seconds(m.rotationDate), RotationType: 'ON_DEMAND' } : {}),
    }));
    return { Rotations, Truncated: false };
  }

  // --- cryptographic operations ----------------------------------------------------------------------------

  private usable(key: KmsKeyRecord, usage: KmsKeyRecord['keyUsage'], op: string): void {
    const state = this.keyState(key);
    if (state === 'Disabled') throw new KmsError('DisabledException', `${key.arn} is disabled.`);
    if (state !== 'Enabled') throw invalidState(`${key.arn} is ${state}.`);
    if (key.keyUsage !== usage)
      throw invalidKeyUsage(`You cannot ${op} with ${key.arn}: its KeyUsage is ${key.keyUsage}.`);
  }

  private privateKey(key: KmsKeyRecord): KeyObject {
    const pem = this.current(key)?.privateKeyPem;
    if (!pem) throw invalidState(`${key.arn} has no key material.`);
    return createPrivateKey(pem);
  }

  private encrypt(body: Body): unknown {
    const key = this.key(body, 'alias');
    const plaintext = base64Field(reqString(body, 'Plaintext'), 'Plaintext');
    const algorithm = optEnum(body, 'EncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
    this.usable(key, 'ENCRYPT_DECRYPT', 'Encrypt');
    if (plaintext.length < 1 || plaintext.length > 4096)
      throw validation('Plaintext must be 1 to 4096 bytes.');
    if (!encryptionAlgorithmsFor(key.keySpec).includes(algorithm)) {
      throw invalidKeyUsage(`The encryption algorithm ${algorithm} is not supported by ${key.keySpec} keys.`);
    }
    if (algorithm !== 'SYMMETRIC_DEFAULT') {
      const hash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
      const blob = publicEncrypt(
        {
          key: createPublicKey(this.privateKey(key)),
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: hash,
        },
        plaintext,
      );
      return { CiphertextBlob: b64(blob), KeyId: key.arn, EncryptionAlgorithm: algorithm };
    }
    const material = this.current(key);
    if (!material?.secret) throw invalidState(`${key.arn} has no key material.`);
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', Buffer.from(material.secret, 'base64'), iv);
    c.setAAD(aad(key.keyId, optObject(body, 'EncryptionContext')));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    // Self-describing blob, as KMS's: which key and which key material, so Decrypt needs no KeyId.
    const blob = Buffer.concat([
      CIPHERTEXT_MAGIC,
      Buffer.from(key.keyId, 'ascii'),
      Buffer.from(material.id, 'hex'),
      iv,
      c.getAuthTag(),
      ct,
    ]);
    return { CiphertextBlob: b64(blob), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  private decrypt(body: Body): unknown {
    const blob = base64Field(reqString(body, 'CiphertextBlob'), 'CiphertextBlob');
    const algorithm = optEnum(body, 'EncryptionAlgorithm', ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
    const keyIdParam = optString(body, 'KeyId');
    if (algorithm !== 'SYMMETRIC_DEFAULT') {
      if (!keyIdParam) throw validation('KeyId is required to decrypt with an asymmetric KMS key.');
      const key = this.lookup(keyIdParam, 'alias');
      this.usable(key, 'ENCRYPT_DECRYPT', 'Decrypt');
      const hash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
      try {
        const pt = privateDecrypt(
          { key: this.privateKey(key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
          blob,
        );
        return { KeyId: key.arn, Plaintext: b64(pt), EncryptionAlgorithm: algorithm };
      } catch {
        throw invalidCiphertext('The ciphertext could not be decrypted with this key and algorithm.');
      }
    }
    const head = CIPHERTEXT_MAGIC.length;
    if (blob.length < head + 36 + 32 + 12 + 16 || !blob.subarray(0, head).equals(CIPHERTEXT_MAGIC)) {
      throw invalidCiphertext('The ciphertext is not a KMS ciphertext blob.');
    }
    const keyId = blob.subarray(head, head + 36).toString('ascii');
    const key = this.lookup(keyId);
    if (keyIdParam !== undefined && this.lookup(keyIdParam, 'alias').keyId !== key.keyId) {
      throw new KmsError(
        'IncorrectKeyException',
        'The key ID in the request does not identify the KMS key that encrypted the ciphertext.',
      );
    }
    this.usable(key, 'ENCRYPT_DECRYPT', 'Decrypt');
    const mid = blob.subarray(head + 36, head + 68).toString('hex');
    const material = key.materials.find((m) => m.id === mid);
    if (!material?.secret || !material.imported)
      throw invalidState(`The key material that encrypted this ciphertext is not available in ${key.arn}.`);
    const iv = blob.subarray(head + 68, head + 80);
    const tag = blob.subarray(head + 80, head + 96);
    try {
      const d = createDecipheriv('aes-256-gcm', Buffer.from(material.secret, 'base64'), iv);
      d.setAuthTag(tag);
      d.setAAD(aad(key.keyId, optObject(body, 'EncryptionContext')));
      const pt = Buffer.concat([d.update(blob.subarray(head + 96)), d.final()]);
      return {
        KeyId: key.arn,
        Plaintext: b64(pt),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        KeyMaterialId: material.id,
      };
    } catch {
      throw invalidCiphertext('The ciphertext or its encryption context was altered.');
    }
  }

  private signingInput(
    body: Body,
    key: KmsKeyRecord,
  ): { algorithm: SigningAlgorithm; scheme: SignatureScheme; digest: Buffer } {
    const message = base64Field(reqString(body, 'Message'), 'Message');
    const messageType = optEnum(body, 'MessageType', ['RAW', 'DIGEST']) ?? 'RAW';
    const algorithm = reqEnum(body, 'SigningAlgorithm', SIGNING_ALGORITHMS);
    if (!signingAlgorithmsFor(key.keySpec).includes(algorithm)) {
      throw invalidKeyUsage(`The signing algorithm ${algorithm} is not supported by ${key.keySpec} keys.`);
    }
    const hash = `sha${algorithm.slice(-3)}` as DigestHash;
    const scheme: SignatureScheme = algorithm.startsWith('RSASSA_PSS')
      ? { kind: 'pss', hash }
      : algorithm.startsWith('RSASSA_PKCS1')
        ? { kind: 'pkcs1', hash }
        : { kind: 'ecdsa', encoding: 'der' };
    if (messageType === 'RAW') {
      if (message.length > 4096) throw validation('A RAW message must be at most 4096 bytes; send a DIGEST.');
      return { algorithm, scheme, digest: createHash(hash).update(message).digest() };
    }
    if (message.length !== DIGEST_BYTES[hash])
      throw validation(
        `A ${hash.toUpperCase()} digest is ${DIGEST_BYTES[hash]} bytes, got ${message.length}.`,
      );
    return { algorithm, scheme, digest: message };
  }

  private sign(body: Body): unknown {
    const key = this.key(body, 'alias');
    this.usable(key, 'SIGN_VERIFY', 'Sign');
    const { algorithm, scheme, digest } = this.signingInput(body, key);
    return {
      KeyId: key.arn,
      Signature: b64(signDigest(this.privateKey(key), scheme, digest)),
      SigningAlgorithm: algorithm,
    };
  }

  private verify(body: Body): unknown {
    const key = this.key(body, 'alias');
    this.usable(key, 'SIGN_VERIFY', 'Verify');
    const signature = base64Field(reqString(body, 'Signature'), 'Signature');
    const { algorithm, scheme, digest } = this.signingInput(body, key);
    if (!verifyDigest(createPublicKey(this.privateKey(key)), scheme, digest, signature)) {
      throw new KmsError(
        'KMSInvalidSignatureException',
        'The signature is not valid for this message, key and signing algorithm.',
      );
    }
    return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm };
  }

  private getPublicKey(body: Body): unknown {
    const key = this.key(body, 'alias');
    const family = familyOf(key.keySpec);
    if (family === 'symmetric' || family === 'hmac')
      throw unsupported(`${key.arn} is not an asymmetric key.`);
    const state = this.keyState(key);
    if (state !== 'Enabled')
      throw state === 'Disabled'
        ? new KmsError('DisabledException', `${key.arn} is disabled.`)
        : invalidState(`${key.arn} is ${state}.`);
    return {
      KeyId: key.arn,
      PublicKey: b64(createPublicKey(this.privateKey(key)).export({ format: 'der', type: 'spki' })),
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      KeyUsage: key.keyUsage,
      ...(key.keyUsage === 'ENCRYPT_DECRYPT'
        ? { EncryptionAlgorithms: encryptionAlgorithmsFor(key.keySpec) }
        : { SigningAlgorithms: signingAlgorithmsFor(key.keySpec) }),
    };
  }

  private mac(body: Body, key: KmsKeyRecord): { algorithm: string; mac: Buffer } {
    const message = base64Field(reqString(body, 'Message'), 'Message');
    const algorithm = reqEnum(body, 'MacAlgorithm', MAC_ALGORITHMS);
    if (MAC_ALGORITHM_OF[key.keySpec] !== algorithm)
      throw invalidKeyUsage(`The MAC algorithm ${algorithm} is not supported by ${key.keySpec} keys.`);
    const secret = this.current(key)?.secret;
    if (!secret) throw invalidState(`${key.arn} has no key material.`);
    const hash = `sha${algorithm.slice(-3)}`;
    return { algorithm, mac: createHmac(hash, Buffer.from(secret, 'base64')).update(message).digest() };
  }

  private generateMac(body: Body): unknown {
    const key = this.key(body, 'alias');
    this.usable(key, 'GENERATE_VERIFY_MAC', 'GenerateMac');
    const { algorithm, mac } = this.mac(body, key);
    return { Mac: b64(mac), MacAlgorithm: algorithm, KeyId: key.arn };
  }

  private verifyMac(body: Body): unknown {
    const key = this.key(body, 'alias');
    this.usable(key, 'GENERATE_VERIFY_MAC', 'VerifyMac');
    const given = base64Field(reqString(body, 'Mac'), 'Mac');
    const { algorithm, mac } = this.mac(body, key);
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) {
      throw new KmsError(
        'KMSInvalidMacException',
        'The MAC is not valid for this message, key and MAC algorithm.',
      );
    }
    return { KeyId: key.arn, MacValid: true, MacAlgorithm: algorithm };
  }
}

const HMAC_GENERATED_BYTES: Readonly<Partial<Record<KeySpec, number>>> = {
  HMAC_224: 28,
  HMAC_256: 32,
  HMAC_384: 48,
  HMAC_512: 64,
};

const MAX_TAGS = 50;

/** `alias/x` or `arn:aws:kms:<region>:<account>:alias/x` -> `alias/x`; undefined for key ids and key ARNs. */
function aliasNameOf(id: string): string | undefined {
  if (id.startsWith('alias/')) return id;
  return /^arn:aws[a-z-]*:kms:[^:]+:\d+:(alias\/.+)$/.exec(id)?.[1];
}

const aliasNotFound = (aliasArn: string) =>
  new KmsError('NotFoundException', `Alias ${aliasArn} is not found.`);

/** Tags as KMS validates them: TagKey 1-128 characters, not `aws:`, TagValue 0-256, no key twice. */
function parseTags(value: unknown, field: string): TagRecord[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw validation(`'${field}' must be an array of {TagKey, TagValue}`);
  const seen = new Set<string>();
  return value.map((t: unknown, i) => {
    const o = typeof t === 'object' && t !== null ? (t as JsonObject) : {};
    const { TagKey, TagValue } = o;
    if (typeof TagKey !== 'string' || typeof TagValue !== 'string') {
      throw validation(`'${field}[${i}]' must be {TagKey: string, TagValue: string}`);
    }
    if (TagKey.length < 1 || TagKey.length > 128 || TagValue.length > 256) {
      throw new KmsError('TagException', `Tag ${TagKey}: keys are 1 to 128 characters, values at most 256.`);
    }
    if (TagKey.toLowerCase().startsWith('aws:'))
      throw new KmsError('TagException', `Tag keys beginning with aws: are reserved (${TagKey}).`);
    if (seen.has(TagKey)) throw new KmsError('TagException', `Tag key ${TagKey} is given twice.`);
    seen.add(TagKey);
    if (seen.size > MAX_TAGS)
      throw new KmsError('TagException', `A KMS key can have at most ${MAX_TAGS} tags.`);
    return { TagKey, TagValue };
  });
}

/**
 * Limit / Marker paging as KMS's List* operations do it: Limit 1..max (default `fallback`), an opaque
 * Marker from the previous page (InvalidMarkerException otherwise), Truncated + NextMarker when more follow.
 */
function paginate<T>(
  all: readonly T[],
  body: Body,
  max: number,
  fallback: number,
): { items: T[]; page: { Truncated: boolean; NextMarker?: string } } {
  const limit = optInteger(body, 'Limit') ?? fallback;
  if (limit < 1 || limit > max) throw validation(`Limit must be between 1 and ${max}.`);
  const marker = optString(body, 'Marker');
  let start = 0;
  if (marker !== undefined) {
    const m = /^p([0-9]+)$/.exec(Buffer.from(marker, 'base64').toString('utf8'));
    start = m ? Number(m[1]) : -1;
    if (start < 0 || start > all.length)
      throw new KmsError(
        'InvalidMarkerException',
        'The request was rejected because the marker is not valid.',
      );
  }
  const items = all.slice(start, start + limit);
  const next = start + items.length;
  return {
    items,
    page:
      next < all.length
        ? { Truncated: true, NextMarker: Buffer.from(`p${next}`).toString('base64') }
        : { Truncated: false },
  };
}

function materialId(keyId: string, material: Buffer): string {
  return createHash('sha256').update(keyId).update(material).digest('hex');
}

/** Encryption context bound into GCM's AAD: canonical (sorted) so key order does not matter, as in KMS. */
function aad(keyId: string, context: JsonObject | undefined): Buffer {
  const entries = Object.entries(context ?? {}).map(([k, v]) => {
    if (typeof v !== 'string') throw validation(`EncryptionContext value for '${k}' must be a string.`);
    return [k, v] as const;
  });
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify([keyId, entries]));
}

export function parseBody(body: unknown): JsonObject {
  return asObject(body ?? {}, 'the request body');
}
