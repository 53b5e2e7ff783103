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
}

type Body = JsonObject;
const seconds = (ms: number) => ms / 1000;
const b64 = (buf: Buffer) => buf.toString('base64');

export class KmsService {
  private readonly state: KmsState;
  private readonly file: JsonFile<KmsState>;

  constructor(private readonly opts: KmsServiceOptions) {
    this.file = new JsonFile(join(opts.stateDir, 'kms-state.json'), parseKmsState);
    this.state = this.file.load(() => ({ formatVersion: 1, keys: {}, tokens: {} }));
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
      DescribeKey: (b) => ({ KeyMetadata: this.metadata(this.key(b)) }),
      ListKeys: () => this.listKeys(),
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

  private key(body: Body): KmsKeyRecord {
    const id = reqString(body, 'KeyId');
    return this.lookup(id);
  }

  private lookup(id: string): KmsKeyRecord {
    const keyId = /^arn:aws:kms:[^:]+:\d+:key\/(.+)$/.exec(id)?.[1] ?? id;
    if (keyId.startsWith('alias/')) throw notFound(id);
    const key = this.state.keys[keyId];
    if (!key) throw notFound(id);
    this.expire(key);
    return key;
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

  private listKeys(): unknown {
    const Keys = Object.values(this.state.keys).map((k) => ({ KeyId: k.keyId, KeyArn: k.arn }));
    return { Keys, Truncated: false };
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
    const { privateKey, publicKey } = await generateRsaKeyPair(bits);
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
    const key = this.key(body);
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
      const key = this.lookup(keyIdParam);
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
    if (keyIdParam !== undefined && this.lookup(keyIdParam).keyId !== key.keyId) {
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
    const key = this.key(body);
    this.usable(key, 'SIGN_VERIFY', 'Sign');
    const { algorithm, scheme, digest } = this.signingInput(body, key);
    return {
      KeyId: key.arn,
      Signature: b64(signDigest(this.privateKey(key), scheme, digest)),
      SigningAlgorithm: algorithm,
    };
  }

  private verify(body: Body): unknown {
    const key = this.key(body);
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
    const key = this.key(body);
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
    const key = this.key(body);
    this.usable(key, 'GENERATE_VERIFY_MAC', 'GenerateMac');
    const { algorithm, mac } = this.mac(body, key);
    return { Mac: b64(mac), MacAlgorithm: algorithm, KeyId: key.arn };
  }

  private verifyMac(body: Body): unknown {
    const key = this.key(body);
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
