/**
 * Azure Key Vault and Managed HSM BYOK (learn.microsoft.com "byok-specification"): an RSA-HSM KEK with key_ops
 * exactly ["import"] in the same vault, the target wrapped as CKM_RSA_AES_KEY_WRAP with OAEP SHA-1, sent as a
 * `.byok` JSON in `key_hsm` (the SDK's JsonWebKey `t`).
 *
 * Two KeyClients share one credential: `reads` keeps the SDK's retry policy (GETs are safe to repeat);
 * `writes` has it off, because a repeated create/import makes a second key version: writes go through
 * writeOnce, which reads the state before repeating anything.
 */
import { constants, createPublicKey, type KeyObject, publicEncrypt, randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import {
  type JsonWebKey,
  KeyClient,
  type KeyClientOptions,
  type KeyVaultKey,
  type SignatureAlgorithm,
} from '@azure/keyvault-keys';
import {
  curveByNodeName,
  decodeByokBlob,
  encodeByokBlob,
  kekFromPublicKey,
  spkiFingerprint,
} from '@byok/core';
import type { AzureTargetConfig } from './config.js';
import { azureCredential } from './credentials.js';
import { type CloudError, type CloudName, cloudError, isCloudError, toCloudError } from './errors.js';
import {
  type AzureKeyShape,
  azureKeyShape,
  checkCloudKeySpec,
  checkKeyOps,
  describeCloudKeySpec,
} from './keyspec.js';
import { readWithRetry, writeOnce } from './retry.js';
import {
  type CleanupOptions,
  type CleanupResult,
  type CloudKeySpec,
  type CloudKind,
  type CreatedResource,
  type HsmProof,
  type ImportedKey,
  type ImportPreparation,
  type ImportTarget,
  type ImportWrappedKeyOptions,
  KEY_OPS,
  type KeyOp,
  type KeyOwner,
  type OperationOptions,
  type PrepareImportOptions,
  type PrepareImportRequest,
  type Verification,
  type VerificationCheck,
  type VerifyImportOptions,
  type WrappingKeyBits,
} from './types.js';
import {
  challenge,
  checkCloudSignature,
  comparePublicKeys,
  digest,
  equalOrFail,
  requireHsmPublicKey,
  signatureHash,
} from './verify.js';

const KEY_NAME = /^[0-9A-Za-z-]{1,127}$/;
const KEK_BITS = [2048, 3072, 4096];
const DEFAULT_KEK_BITS = 3072;
const DEFAULT_GENERATOR = 'byok-clouds';
const AZURE_OAEP_NOTE =
  'Azure requires RSA-OAEP with SHA-1 (MGF1 SHA-1) for the ephemeral AES key: wrap with CKG_MGF1_SHA1, not SHA-256';

const ES_ALGORITHM: Readonly<Record<string, SignatureAlgorithm>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
  secp256k1: 'ES256K',
};

/** Public key from the JWK the vault returns (RSA n/e, EC x/y/crv), via node:crypto. */
export function publicKeyFromJwk(key: JsonWebKey): KeyObject | undefined {
  const b64 = (v: Uint8Array | undefined) => (v ? Buffer.from(v).toString('base64url') : undefined);
  if (key.kty?.startsWith('RSA') && key.n && key.e) {
    return createPublicKey({ key: { kty: 'RSA', n: b64(key.n), e: b64(key.e) }, format: 'jwk' });
  }
  if (key.kty?.startsWith('EC') && key.x && key.y && key.crv) {
    const crv = key.crv === 'P-256K' ? 'secp256k1' : key.crv;
    return createPublicKey({ key: { kty: 'EC', crv, x: b64(key.x), y: b64(key.y) }, format: 'jwk' });
  }
  return undefined;
}

/** Programmatic extras (not part of the validated config): a ready credential, pipeline policies (proxies, tracing, tests). */
export interface AzureTargetExtras {
  readonly credential?: TokenCredential;
  readonly additionalPolicies?: KeyClientOptions['additionalPolicies'];
}

export class AzureKeyVaultTarget implements ImportTarget {
  readonly cloud: CloudKind;
  readonly location: string;
  private readonly name: CloudName;
  private readonly reads: KeyClient;
  private readonly writes: KeyClient;

  constructor(
    private readonly config: AzureTargetConfig,
    extras: AzureTargetExtras = {},
  ) {
    const credential = extras.credential ?? azureCredential(config.credential);
    this.cloud = config.managedHsm ? 'azure-managedhsm' : 'azure-keyvault';
    this.name = config.managedHsm ? 'Azure Managed HSM' : 'Azure Key Vault';
    this.location = config.vaultUrl;
    const common: KeyClientOptions = {
      disableChallengeResourceVerification: config.disableChallengeResourceVerification,
      ...(config.caCertPem ? { tlsOptions: { ca: config.caCertPem } } : {}),
      userAgentOptions: { userAgentPrefix: 'byok-clouds' },
      ...(extras.additionalPolicies ? { additionalPolicies: extras.additionalPolicies } : {}),
    };
    this.reads = new KeyClient(config.vaultUrl, credential, {
      ...common,
      retryOptions: {
        maxRetries: config.retry.maxAttempts - 1,
        retryDelayInMs: config.retry.baseDelayMs,
        maxRetryDelayInMs: config.retry.maxDelayMs,
      },
    });
    this.writes = new KeyClient(config.vaultUrl, credential, { ...common, retryOptions: { maxRetries: 0 } });
  }

  close(): void {
    // KeyClient holds no sockets of its own beyond Node's global agent pool.
  }

  private fail(
    err: unknown,
    operation: string,
    subject: string,
    opts?: { abortSignal?: AbortSignal; phase?: 'import' },
  ): CloudError {
    return toCloudError(err, {
      cloud: this.name,
      operation,
      subject,
      ...(opts?.abortSignal ? { abortSignal: opts.abortSignal } : {}),
      ...(opts?.phase ? { phase: opts.phase } : {}),
    });
  }

  private requestOptions(abortSignal: AbortSignal | undefined) {
    return {
      ...(abortSignal ? { abortSignal } : {}),
      requestOptions: { timeout: this.config.requestTimeoutMs },
    };
  }

  /** A key by name (latest version) or undefined when it does not exist. */
  private async findKey(
    name: string,
    abortSignal?: AbortSignal,
    version?: string,
  ): Promise<KeyVaultKey | undefined> {
    return readWithRetry(
      async () => {
        try {
          return await this.reads.getKey(name, {
            ...this.requestOptions(abortSignal),
            ...(version ? { version } : {}),
          });
        } catch (err) {
          const mapped = this.fail(err, 'getKey', name, { ...(abortSignal ? { abortSignal } : {}) });
          if (mapped.code === 'KEY_NOT_FOUND') return undefined;
          throw mapped;
        }
      },
      this.config.retry,
      abortSignal,
    );
  }

  // ---- prepare -------------------------------------------------------------------------------------------

  async prepareImport(
    request: PrepareImportRequest,
    options: PrepareImportOptions = {},
  ): Promise<ImportPreparation> {
    const { abortSignal } = options;
    const spec = checkCloudKeySpec(request.spec);
    const shape = azureKeyShape(spec, this.config.managedHsm);
    const keyOps = checkKeyOps(spec, request.keyOps, this.name);
    this.checkName(request.keyName, 'keyName');
    this.refuseAwsOptions(request);
    const hashes = request.hsmOaepHashes ?? ['sha1', 'sha256'];
    if (!hashes.includes('sha1')) {
      throw cloudError(
        'OAEP_HASH_UNSUPPORTED',
        this.name,
        `Azure BYOK requires OAEP SHA-1 and the HSM was declared to support only ${hashes.join(', ') || 'nothing'}`,
      );
    }
    const notes = [AZURE_OAEP_NOTE];
    const created: CreatedResource[] = [];
    try {
      const existing = await this.findKey(request.keyName, abortSignal);
      if (existing) {
        notes.push(
          `${request.keyName} exists: the import will add a new version to it (${existing.id ?? ''})`,
        );
      }
      const kek = request.existingKekName
        ? await this.checkExistingKek(request.existingKekName, abortSignal)
        : await this.makeKek(request, created, abortSignal);
      return {
        cloud: this.cloud,
        location: this.location,
        keyName: request.keyName,
        spec,
        keyOps,
        kek,
        wrap: {
          format: 'rsa-aes-key-wrap',
          oaepHash: 'sha1',
          encoding: shape.kty === 'oct-HSM' ? 'raw' : 'pkcs8',
        },
        created,
        notes,
      };
    } catch (err) {
      const mapped = isCloudError(err) ? err : this.fail(err, 'prepareImport', request.keyName);
      if (created.length === 0) throw mapped;
      let cleaned = false;
      if (request.cleanupOnFailure) {
        try {
          await this.deleteKey(created.map((c) => nameOfKid(c.id)).at(0) ?? '', false, abortSignal);
          cleaned = true;
        } catch {
          cleaned = false;
        }
      }
      throw mapped.withCreated(created, cleaned);
    }
  }

  private checkName(name: string, field: string): void {
    if (!KEY_NAME.test(name)) {
      throw cloudError(
        'REQUEST_INVALID',
        this.name,
        `${field} '${name}' is not a key name (1-127 letters, digits, dashes)`,
      );
    }
  }

  private refuseAwsOptions(request: PrepareImportRequest): void {
    if (request.existingKeyId !== undefined || request.wrappingAlgorithm !== undefined) {
      throw cloudError(
        'REQUEST_INVALID',
        this.name,
        'existingKeyId and wrappingAlgorithm are AWS KMS options; Azure uses existingKekName and always CKM_RSA_AES_KEY_WRAP',
      );
    }
  }

  /** Reads back (or checks) a KEK: RSA-HSM, 2048/3072/4096, enabled, key_ops exactly ['import']. */
  private kekFacts(key: KeyVaultKey, name: string): ImportPreparation['kek'] {
    const jwk = key.key;
    const kty = jwk?.kty ?? 'unknown';
    if (kty !== 'RSA-HSM') {
      const why = kty === 'RSA' ? 'a software-protected RSA key' : `a ${kty} key`;
      throw cloudError(
        'KEK_WRONG_TYPE',
        this.name,
        `KEK '${name}' is ${why}; a KEK must be RSA-HSM (2048, 3072 or 4096 bits)`,
      );
    }
    const publicKey = publicKeyFromJwk(jwk ?? {});
    const bits = publicKey?.asymmetricKeyDetails?.modulusLength ?? 0;
    if (!publicKey || !KEK_BITS.includes(bits)) {
      throw cloudError(
        'KEK_WRONG_TYPE',
        this.name,
        `KEK '${name}' is RSA-${bits}; a KEK must be RSA-HSM 2048, 3072 or 4096`,
      );
    }
    const ops = jwk?.keyOps ?? [];
    if (ops.length !== 1 || ops[0] !== 'import') {
      const extra = ops.filter((op) => op !== 'import');
      const what = extra.length > 0 ? `also allows ${extra.join(', ')}` : 'does not allow import';
      throw cloudError(
        'KEK_INVALID_OPS',
        this.name,
        `KEK '${name}' has key_ops [${ops.join(', ')}]: it ${what}; a KEK must have key_ops exactly ["import"] ` +
          '(create a new KEK; key_ops of an existing key cannot be narrowed safely for BYOK)',
      );
    }
    if (key.properties.enabled === false) {
      throw cloudError('KEK_DISABLED', this.name, `KEK '${name}' is disabled; enable it or create a new KEK`);
    }
    if (!key.id) throw cloudError('CLOUD_ERROR', this.name, `KEK '${name}' came back without an id`);
    const kek = kekFromPublicKey(publicKey);
    return {
      id: key.id,
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      fingerprint: kek.fingerprint,
      bits,
    };
  }

  private async checkExistingKek(name: string, abortSignal?: AbortSignal): Promise<ImportPreparation['kek']> {
    this.checkName(name, 'existingKekName');
    const key = await this.findKey(name, abortSignal);
    if (!key)
      throw cloudError('KEY_NOT_FOUND', this.name, `KEK '${name}' does not exist in ${this.location}`);
    return this.kekFacts(key, name);
  }

  private async makeKek(
    request: PrepareImportRequest,
    created: CreatedResource[],
    abortSignal?: AbortSignal,
  ): Promise<ImportPreparation['kek']> {
    const name = request.kekName ?? `${request.keyName}-kek`;
    this.checkName(name, 'kekName');
    const bits = request.wrappingKeyBits ?? DEFAULT_KEK_BITS;
    if (await this.findKey(name, abortSignal)) {
      throw cloudError(
        'KEK_NAME_IN_USE',
        this.name,
        `a key named '${name}' already exists; pass existingKekName: '${name}' to reuse it as the KEK, or choose another kekName`,
      );
    }
    const key = await writeOnce({
      attempt: async () => {
        try {
          return await this.writes.createRsaKey(name, {
            hsm: true,
            keySize: bits,
            keyOps: ['import'],
            // The request's tags too (a ceremony's id): a retry or a compensation that never saw this
            // answer recognises the KEK as its own by them, never by its name alone.
            tags: { ...request.tags, purpose: 'byok-kek', 'byok-key': request.keyName },
            ...this.requestOptions(abortSignal),
          });
        } catch (err) {
          throw this.fail(err, 'createRsaKey (KEK)', name, { ...(abortSignal ? { abortSignal } : {}) });
        }
      },
      // We checked above that the name was free: a key there now is the one our lost request made.
      reconcile: () => this.findKey(name, abortSignal),
      settings: this.config.retry,
      ...(abortSignal ? { abortSignal } : {}),
    });
    created.push({ kind: 'azure-kek', id: key.id ?? `${this.location}/keys/${name}` });
    // boulder's habit: read back what was made and check it is what was asked.
    const facts = this.kekFacts(key, name);
    if (facts.bits !== bits) {
      throw cloudError(
        'KEK_WRONG_TYPE',
        this.name,
        `the new KEK '${name}' is RSA-${facts.bits}, not the RSA-${bits} asked for`,
      );
    }
    return facts;
  }

  // ---- the split, az-style flow (kek create / kek download / import of a .byok file) -------------------------

  /**
   * `az keyvault key create --kty RSA-HSM --ops import`: a KEK on its own, read back and checked. The name must
   * be free (KEK_NAME_IN_USE otherwise: a new version on top of an existing key would go unnoticed).
   */
  async createKek(
    name: string,
    options: OperationOptions & { readonly bits?: WrappingKeyBits } = {},
  ): Promise<ImportPreparation['kek']> {
    this.checkName(name, 'kekName');
    const request: PrepareImportRequest = {
      keyName: name,
      kekName: name,
      spec: { kind: 'rsa', bits: 2048 },
      ...(options.bits ? { wrappingKeyBits: options.bits } : {}),
    };
    return this.makeKek(request, [], options.abortSignal);
  }

  /** An existing KEK, checked like `existingKekName` (RSA-HSM, 2048..4096, enabled, key_ops exactly import). */
  async getKek(name: string, options: OperationOptions = {}): Promise<ImportPreparation['kek']> {
    return this.checkExistingKek(name, options.abortSignal);
  }

  /**
   * `az keyvault key import --byok-file`: sends a `.byok` file made elsewhere (the drop-in hsmbyok) as it is,
   * byte for byte, after checking that its kid names a usable KEK of this vault. `octBits` sizes an oct-HSM
   * key in the result (the service does not report it); RSA/EC specs come from the imported public key.
   */
  async importByokFile(
    keyName: string,
    byok: Uint8Array,
    shape: AzureKeyShape & { readonly keyOps: readonly KeyOp[]; readonly octBits?: 128 | 192 | 256 },
    options: ImportWrappedKeyOptions = {},
  ): Promise<ImportedKey> {
    this.checkName(keyName, 'keyName');
    let kid: string;
    try {
      kid = decodeByokBlob(Buffer.from(byok)).kid;
    } catch (err) {
      throw cloudError(
        'BLOB_REJECTED',
        this.name,
        `the .byok file is not a BYOK blob: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    let kekUrl: URL;
    try {
      kekUrl = new URL(kid);
    } catch {
      throw cloudError('BLOB_REJECTED', this.name, `the .byok file's kid '${kid}' is not a key URL`);
    }
    if (kekUrl.origin !== new URL(this.location).origin) {
      throw cloudError(
        'BLOB_REJECTED',
        this.name,
        `the .byok file was wrapped for a KEK in ${kekUrl.origin}, not in ${this.location}: the KEK must be in ` +
          'the vault the key is imported into',
      );
    }
    await this.checkExistingKek(nameOfKid(kid), options.abortSignal);
    if (shape.kty === 'oct-HSM' && !this.config.managedHsm) {
      throw cloudError(
        'UNSUPPORTED_KEY_SPEC',
        this.name,
        'oct-HSM keys can only be imported into a Managed HSM',
      );
    }
    const jwk: JsonWebKey = {
      kty: shape.kty,
      ...(shape.crv ? { crv: shape.crv } : {}),
      keyOps: [...shape.keyOps],
      t: Buffer.from(byok),
    };
    const { key, notes } = await this.sendImport(keyName, jwk, options);
    return this.importedFrom(key, shape.keyOps, shape.octBits ?? 256, notes);
  }

  /** An imported key as `verifyImport` takes it, read from the vault (the split flow's verify). */
  async getImportedKey(
    keyName: string,
    options: OperationOptions & { readonly octBits?: 128 | 192 | 256 } = {},
  ): Promise<ImportedKey> {
    this.checkName(keyName, 'keyName');
    const key = await this.findKey(keyName, options.abortSignal);
    if (!key)
      throw cloudError('KEY_NOT_FOUND', this.name, `key '${keyName}' does not exist in ${this.location}`);
    const ops = (key.key?.keyOps ?? []).filter((op): op is KeyOp =>
      (KEY_OPS as readonly string[]).includes(op),
    );
    return this.importedFrom(key, ops, options.octBits ?? 256, []);
  }

  private importedFrom(
    key: KeyVaultKey,
    keyOps: readonly KeyOp[],
    octBits: 128 | 192 | 256,
    notes: string[],
  ): ImportedKey {
    const publicKey = key.key ? publicKeyFromJwk(key.key) : undefined;
    const kty = key.key?.kty ?? 'unknown';
    let spec: CloudKeySpec;
    if (publicKey?.asymmetricKeyType === 'rsa') {
      const bits = publicKey.asymmetricKeyDetails?.modulusLength;
      if (bits !== 2048 && bits !== 3072 && bits !== 4096) {
        throw cloudError('KEY_SPEC_MISMATCH', this.name, `${key.id ?? key.name} is RSA-${bits}`);
      }
      spec = { kind: 'rsa', bits };
    } else if (publicKey?.asymmetricKeyType === 'ec') {
      const curve = curveByNodeName(publicKey.asymmetricKeyDetails?.namedCurve ?? '');
      if (!curve)
        throw cloudError('KEY_SPEC_MISMATCH', this.name, `${key.id ?? key.name} is on an unknown curve`);
      spec = { kind: 'ec', curve: curve.name };
    } else if (kty.startsWith('oct')) {
      spec = { kind: 'aes', bits: octBits };
    } else {
      throw cloudError('KEY_SPEC_MISMATCH', this.name, `${key.id ?? key.name} is a ${kty} key`);
    }
    if (!key.id) throw cloudError('CLOUD_ERROR', this.name, `'${key.name}' came back without a key id`);
    return {
      cloud: this.cloud,
      location: this.location,
      keyName: key.name,
      keyId: key.id,
      ...(key.properties.version ? { version: key.properties.version } : {}),
      spec,
      keyOps,
      ...(publicKey
        ? {
            publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
            publicKeyFingerprint: spkiFingerprint(publicKey),
          }
        : {}),
      notes,
    };
  }

  async refreshPreparation(
    preparation: ImportPreparation,
    options: OperationOptions = {},
  ): Promise<ImportPreparation> {
    this.checkOwn(preparation);
    const name = nameOfKid(preparation.kek.id);
    const key = await this.findKey(name, options.abortSignal, versionOfKid(preparation.kek.id));
    if (!key) throw cloudError('KEY_NOT_FOUND', this.name, `KEK ${preparation.kek.id} no longer exists`);
    const kek = this.kekFacts(key, name);
    if (kek.fingerprint !== preparation.kek.fingerprint) {
      throw cloudError(
        'PREPARATION_MISMATCH',
        this.name,
        `KEK ${preparation.kek.id} has changed since the preparation`,
      );
    }
    return { ...preparation, kek };
  }

  private checkOwn(preparation: ImportPreparation): void {
    if (preparation.cloud !== this.cloud || preparation.location !== this.location) {
      throw cloudError(
        'PREPARATION_MISMATCH',
        this.name,
        `the preparation is for ${preparation.cloud} ${preparation.location}, not ${this.cloud} ${this.location}`,
      );
    }
  }

  // ---- import --------------------------------------------------------------------------------------------

  async importWrappedKey(
    preparation: ImportPreparation,
    wrapped: Uint8Array,
    options: ImportWrappedKeyOptions = {},
  ): Promise<ImportedKey> {
    this.checkOwn(preparation);
    const shape = azureKeyShape(preparation.spec, this.config.managedHsm);
    const ciphertext = Buffer.from(wrapped);
    const k = preparation.kek.bits / 8;
    if (ciphertext.length < k + 16 || (ciphertext.length - k) % 8 !== 0) {
      throw cloudError(
        'BLOB_REJECTED',
        this.name,
        `the wrapped key is ${ciphertext.length} bytes; under the RSA-${preparation.kek.bits} KEK it must be ${k} bytes ` +
          'of RSA-OAEP followed by a multiple of 8 (at least 16) of AES-KWP: it was wrapped under another KEK or is damaged',
      );
    }
    const blob = encodeByokBlob({
      schemaVersion: '1.0.0',
      kid: preparation.kek.id,
      enc: 'CKM_RSA_AES_KEY_WRAP',
      ciphertext,
      generator: options.generator ?? DEFAULT_GENERATOR,
    });
    const jwk: JsonWebKey = {
      kty: shape.kty,
      ...(shape.crv ? { crv: shape.crv } : {}),
      keyOps: [...preparation.keyOps],
      t: Buffer.from(blob, 'utf8'),
    };
    const name = preparation.keyName;
    const { key, notes } = await this.sendImport(name, jwk, options);
    const publicKey = key.key ? publicKeyFromJwk(key.key) : undefined;
    if (!key.id) throw cloudError('CLOUD_ERROR', this.name, `importKey of '${name}' returned no key id`);
    return {
      cloud: this.cloud,
      location: this.location,
      keyName: name,
      keyId: key.id,
      ...(key.properties.version ? { version: key.properties.version } : {}),
      spec: preparation.spec,
      keyOps: preparation.keyOps,
      ...(publicKey
        ? {
            publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
            publicKeyFingerprint: spkiFingerprint(publicKey),
          }
        : {}),
      notes,
    };
  }

  /** importKey with a `t` blob, written once: a lost answer is reconciled by looking for a new version. */
  private async sendImport(
    name: string,
    jwk: JsonWebKey,
    options: ImportWrappedKeyOptions,
  ): Promise<{ key: KeyVaultKey; notes: string[] }> {
    const { abortSignal } = options;
    const before = (await this.findKey(name, abortSignal))?.properties.version;
    const notes: string[] = [];
    const key = await writeOnce({
      attempt: async () => {
        try {
          return await this.writes.importKey(name, jwk, {
            hardwareProtected: true,
            ...(options.tags ? { tags: { ...options.tags } } : {}),
            ...this.requestOptions(abortSignal),
          });
        } catch (err) {
          throw this.fail(err, 'importKey', name, {
            ...(abortSignal ? { abortSignal } : {}),
            phase: 'import',
          });
        }
      },
      // A version that was not there before is the one our unanswered request made.
      reconcile: async () => {
        const now = await this.findKey(name, abortSignal);
        return now && now.properties.version !== before ? now : undefined;
      },
      settings: this.config.retry,
      note: (line) => notes.push(`importKey: ${line}`),
      ...(abortSignal ? { abortSignal } : {}),
    });
    return { key, notes };
  }

  // ---- verify --------------------------------------------------------------------------------------------

  async verifyImport(
    imported: ImportedKey,
    proof: HsmProof,
    options: VerifyImportOptions = {},
  ): Promise<Verification> {
    const { abortSignal } = options;
    const name = imported.keyName;
    const version = imported.version;
    const key = await this.findKey(name, abortSignal, version);
    if (!key) throw cloudError('KEY_NOT_FOUND', this.name, `${imported.keyId} no longer exists`);
    const crypto = this.reads.getCryptographyClient(name, version ? { keyVersion: version } : {});
    const checks: VerificationCheck[] = [];
    const notes: string[] = [];
    const spec = imported.spec;
    const ops = imported.keyOps;
    const what = `${describeCloudKeySpec(spec)} ${imported.keyId}`;
    const call = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        throw this.fail(err, operation, imported.keyId, { ...(abortSignal ? { abortSignal } : {}) });
      }
    };
    const request = this.requestOptions(abortSignal);

    if (spec.kind === 'rsa' || spec.kind === 'ec') {
      const hsmKey = requireHsmPublicKey(proof, this.name, what);
      const cloudKey = key.key ? publicKeyFromJwk(key.key) : undefined;
      if (!cloudKey)
        throw cloudError('VERIFICATION_FAILED', this.name, `${imported.keyId} has no public key`);
      checks.push(comparePublicKeys(cloudKey, hsmKey, this.name, imported.keyId));
      if (ops.includes('sign')) {
        const hash = signatureHash(spec);
        const algorithm: SignatureAlgorithm =
          spec.kind === 'rsa' ? 'RS256' : (ES_ALGORITHM[spec.curve] ?? 'ES256');
        const message = challenge(imported.keyId);
        const signed = await call('sign', () => crypto.sign(algorithm, digest(hash, message), request));
        checks.push(
          checkCloudSignature({
            hsmKey,
            hash,
            message,
            signature: Buffer.from(signed.result),
            dsaEncoding: 'ieee-p1363',
            cloud: this.name,
            keyId: imported.keyId,
            algorithm,
          }),
        );
      } else if (spec.kind === 'rsa' && ops.includes('decrypt')) {
        const secret = randomBytes(32);
        const encrypted = publicEncrypt(
          { key: hsmKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          secret,
        );
        const decrypted = await call('decrypt', () =>
          crypto.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: encrypted }, request),
        );
        checks.push(
          equalOrFail(
            Buffer.from(decrypted.result),
            secret,
            this.name,
            'hsm-encrypt-cloud-decrypt',
            `${imported.keyId} cannot decrypt what was encrypted to the HSM's public key`,
            'RSA-OAEP-256 ciphertext made with the HSM public key decrypted by the cloud key',
          ),
        );
      } else {
        notes.push(
          `key_ops [${ops.join(', ')}] allow no private-key operation: only the public keys were compared`,
        );
      }
    } else if (spec.kind === 'aes') {
      if (!proof.encryptAesCbc) {
        throw cloudError(
          'VERIFY_PROOF_MISSING',
          this.name,
          `verifying ${what} needs an HSM AES-CBC port (proof.encryptAesCbc)`,
        );
      }
      const iv = randomBytes(16);
      const plaintext = randomBytes(32);
      const algorithm = `A${spec.bits}CBC` as const;
      const hsmCiphertext = Buffer.from(await proof.encryptAesCbc(iv, plaintext));
      if (ops.includes('encrypt')) {
        const result = await call('encrypt', () => crypto.encrypt({ algorithm, plaintext, iv }, request));
        checks.push(
          equalOrFail(
            Buffer.from(result.result),
            hsmCiphertext,
            this.name,
            'cloud-encrypt-equals-hsm',
            `${algorithm} ciphertexts of the cloud key and the HSM key differ: another key was imported`,
            `${algorithm} encryption of a random block pair gives the same ciphertext in the cloud and in the HSM`,
          ),
        );
      } else if (ops.includes('decrypt')) {
        const result = await call('decrypt', () =>
          crypto.decrypt({ algorithm, ciphertext: hsmCiphertext, iv }, request),
        );
        checks.push(
          equalOrFail(
            Buffer.from(result.result),
            plaintext,
            this.name,
            'hsm-encrypt-cloud-decrypt',
            `the cloud key cannot decrypt the HSM's ${algorithm} ciphertext: another key was imported`,
            `${algorithm} ciphertext made in the HSM decrypted by the cloud key`,
          ),
        );
      } else {
        notes.push(
          `key_ops [${ops.join(', ')}] allow neither encrypt nor decrypt: the key could not be exercised`,
        );
      }
    } else {
      throw cloudError('UNSUPPORTED_KEY_SPEC', this.name, 'HMAC keys are not imported into Azure');
    }
    return { keyId: imported.keyId, checks, notes };
  }

  // ---- cleanup -------------------------------------------------------------------------------------------

  /** Whether the key `name` exists and carries the owner's tag (e.g. `byok-ceremony` = its id). */
  async ownsKey(
    name: string,
    owner: Pick<KeyOwner, 'tagKey' | 'tagValue'>,
    options: OperationOptions = {},
  ): Promise<boolean> {
    const key = await this.findKey(name, options.abortSignal);
    return key !== undefined && key.properties.tags?.[owner.tagKey] === owner.tagValue;
  }

  /**
   * Compensation without a preparation (a prepareImport that was cancelled or died before answering):
   * deletes the KEK `name` only when it carries the owner's tag; a key by that name without it is kept.
   */
  async discardOwnedKek(
    name: string,
    owner: Pick<KeyOwner, 'tagKey' | 'tagValue'>,
    options: OperationOptions = {},
  ): Promise<CleanupResult> {
    const key = await this.findKey(name, options.abortSignal);
    const id = key?.id ?? `${this.location}/keys/${name}`;
    if (!key) {
      return {
        deleted: [],
        purged: [],
        scheduledForDeletion: [],
        kept: [],
        notes: [`no KEK '${name}': nothing to discard`],
      };
    }
    if (key.properties.tags?.[owner.tagKey] !== owner.tagValue) {
      return {
        deleted: [],
        purged: [],
        scheduledForDeletion: [],
        kept: [id],
        notes: [`'${name}' is not tagged ${owner.tagKey}=${owner.tagValue}: not created by this run, kept`],
      };
    }
    await this.deleteKey(name, false, options.abortSignal);
    return { deleted: [id], purged: [], scheduledForDeletion: [], kept: [], notes: [] };
  }

  async cleanup(preparation: ImportPreparation, options: CleanupOptions = {}): Promise<CleanupResult> {
    this.checkOwn(preparation);
    const deleted: string[] = [];
    const purged: string[] = [];
    const kept: string[] = [];
    const notes: string[] = [];
    const createdKek = preparation.created.some((c) => c.kind === 'azure-kek' && c.id === preparation.kek.id);
    const wantKek =
      (options.deleteKek || options.deleteCreatedKey) && (createdKek || options.includeReusedKek);
    if (wantKek) {
      const name = nameOfKid(preparation.kek.id);
      await this.deleteKey(name, options.purge === true, options.abortSignal);
      deleted.push(preparation.kek.id);
      if (options.purge) purged.push(preparation.kek.id);
    } else {
      kept.push(preparation.kek.id);
      if (options.deleteKek && !createdKek)
        notes.push('the KEK was reused, not created by this run: kept (includeReusedKek deletes it)');
    }
    return { deleted, purged, scheduledForDeletion: [], kept, notes };
  }

  /** Deletes a key (all versions) and waits for the deletion; purges when asked. */
  private async deleteKey(name: string, purge: boolean, abortSignal?: AbortSignal): Promise<void> {
    const opts = { ...this.requestOptions(abortSignal), intervalInMs: 500 };
    try {
      const poller = await this.writes.beginDeleteKey(name, opts);
      await poller.pollUntilDone(abortSignal ? { abortSignal } : {});
    } catch (err) {
      const mapped = this.fail(err, 'beginDeleteKey', name, { ...(abortSignal ? { abortSignal } : {}) });
      // Already gone is what we wanted.
      if (mapped.code !== 'KEY_NOT_FOUND') throw mapped;
    }
    if (purge) {
      await readWithRetry(
        async () => {
          try {
            await this.writes.purgeDeletedKey(name, this.requestOptions(abortSignal));
          } catch (err) {
            throw this.fail(err, 'purgeDeletedKey', name, { ...(abortSignal ? { abortSignal } : {}) });
          }
        },
        this.config.retry,
        abortSignal,
      );
    }
  }
}

/** `https://vault/keys/<name>/<version>` -> name. */
export function nameOfKid(kid: string): string {
  const parts = new URL(kid).pathname.split('/').filter(Boolean);
  return parts[1] ?? '';
}

function versionOfKid(kid: string): string | undefined {
  const parts = new URL(kid).pathname.split('/').filter(Boolean);
  return parts[2];
}
