/**
 * AWS KMS imported key material: CreateKey (Origin EXTERNAL) -> GetParametersForImport -> ImportKeyMaterial,
 * plus reimport into a PendingImport key, rotation of imported symmetric keys (import NEW_KEY_MATERIAL, then
 * RotateKeyOnDemand), DeleteImportedKeyMaterial and scheduled deletion as compensation.
 *
 * Two KMSClients: `reads` with the SDK's standard retry mode (Describe/Get*, GetParametersForImport: safe to
 * repeat); `writes` with one attempt, because CreateKey makes a new key per call and ImportKeyMaterial
 * consumes the import token: writes go through writeOnce, which reads the key state before repeating.
 */
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { Agent } from 'node:https';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  type KeyMetadata,
  KMSClient,
  type KMSClientConfig,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
} from '@aws-sdk/client-kms';
import { kekFromPublicKey, spkiFingerprint } from '@byok/core';
import type { AwsTargetConfig } from './config.js';
import { type CloudError, cloudError, isCloudError, toCloudError } from './errors.js';
import {
  type AwsKeySpec,
  type AwsKeyUsage,
  awsKeySpec,
  awsKeyUsage,
  checkCloudKeySpec,
  checkKeyOps,
  chooseAwsAlgorithm,
  cloudKeySpecOfAws,
  describeCloudKeySpec,
  instructionsFor,
} from './keyspec.js';
import { isPreparationExpired } from './preparation.js';
import { readWithRetry, writeOnce } from './retry.js';
import type {
  AwsWrappingAlgorithm,
  CleanupOptions,
  CleanupResult,
  CloudKeySpec,
  CloudOaepHash,
  CreatedResource,
  HsmProof,
  ImportedKey,
  ImportPreparation,
  ImportTarget,
  ImportWrappedKeyOptions,
  KeyOp,
  KeyOwner,
  OperationOptions,
  PrepareImportOptions,
  PrepareImportRequest,
  Verification,
  VerificationCheck,
  VerifyImportOptions,
  WrappingKeyBits,
} from './types.js';
import {
  challenge,
  checkCloudSignature,
  comparePublicKeys,
  equalOrFail,
  requireHsmPublicKey,
  signatureHash,
} from './verify.js';

const CLOUD = 'AWS KMS' as const;
/** KMS's alias name rule (botocore AliasNameType), with the alias/ prefix it requires and alias/aws/ refused. */
const ALIAS_NAME = /^alias\/[A-Za-z0-9:/_-]{1,250}$/;
/** ListResourceTags calls in flight at once while searching an account for an owner's keys. */
const SEARCH_CONCURRENCY = 8;
const DEFAULT_WRAPPING_BITS: WrappingKeyBits = 3072;
const MAX_VALID_TO_MS = 365 * 86_400_000;

const ECDSA_ALGORITHM = {
  sha256: 'ECDSA_SHA_256',
  sha384: 'ECDSA_SHA_384',
  sha512: 'ECDSA_SHA_512',
} as const;
const MAC_ALGORITHM = {
  224: 'HMAC_SHA_224',
  256: 'HMAC_SHA_256',
  384: 'HMAC_SHA_384',
  512: 'HMAC_SHA_512',
} as const;

/** What `AwsKmsTarget.preflight` found: one line each, for the ceremony's evidence. */
export interface AwsPreflight {
  readonly notes: readonly string[];
}

/** What a compensation without a preparation removes: the alias and the keys an owner created (see discardOwned). */
export interface DiscardOwnedRequest {
  readonly alias?: string;
  readonly owner: KeyOwner;
  /** ScheduleKeyDeletion window, 7..30 days; default 7. */
  readonly pendingWindowInDays?: number;
}

export interface PrepareRotationRequest {
  /** The EXTERNAL SYMMETRIC_DEFAULT key (Enabled) to give new material. */
  readonly keyId: string;
  /** For logs and evidence; default: the key id. */
  readonly keyName?: string;
  readonly hsmOaepHashes?: readonly CloudOaepHash[];
  readonly wrappingKeyBits?: WrappingKeyBits;
  readonly wrappingAlgorithm?: AwsWrappingAlgorithm;
}

function clientConfig(config: AwsTargetConfig, maxAttempts: number): KMSClientConfig {
  const creds = config.credentials;
  return {
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(creds.kind === 'static'
      ? {
          credentials: {
            accessKeyId: creds.accessKeyId,
            secretAccessKey: creds.secretAccessKey,
            ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}),
          },
        }
      : creds.profile
        ? { profile: creds.profile }
        : {}),
    maxAttempts,
    retryMode: 'standard',
    requestHandler: {
      requestTimeout: config.requestTimeoutMs,
      // Without it the handler only logs a warning and waits for ever on a server that never answers.
      throwOnRequestTimeout: true,
      connectionTimeout: Math.min(config.requestTimeoutMs, 10_000),
      ...(config.caCertPem ? { httpsAgent: new Agent({ ca: config.caCertPem, keepAlive: true }) } : {}),
    },
  };
}

/** Programmatic extras: add middleware to the SDK clients (tracing, proxies, tests). */
export interface AwsTargetExtras {
  readonly configureClient?: (client: KMSClient, role: 'reads' | 'writes') => void;
}

export class AwsKmsTarget implements ImportTarget {
  readonly cloud = 'aws-kms' as const;
  readonly location: string;
  private readonly reads: KMSClient;
  private readonly writes: KMSClient;

  constructor(
    private readonly config: AwsTargetConfig,
    extras: AwsTargetExtras = {},
  ) {
    this.location = `aws-kms:${config.region}${config.endpoint ? `@${config.endpoint}` : ''}`;
    this.reads = new KMSClient(clientConfig(config, config.retry.maxAttempts));
    this.writes = new KMSClient(clientConfig(config, 1));
    extras.configureClient?.(this.reads, 'reads');
    extras.configureClient?.(this.writes, 'writes');
  }

  close(): void {
    this.reads.destroy();
    this.writes.destroy();
  }

  private fail(
    err: unknown,
    operation: string,
    subject: string | undefined,
    abortSignal?: AbortSignal,
    phase?: 'import' | 'parameters',
  ): CloudError {
    return toCloudError(err, {
      cloud: CLOUD,
      operation,
      ...(subject ? { subject } : {}),
      ...(abortSignal ? { abortSignal } : {}),
      ...(phase ? { phase } : {}),
    });
  }

  private async describe(keyId: string, abortSignal?: AbortSignal): Promise<KeyMetadata> {
    return readWithRetry(
      async () => {
        try {
          const out = await this.reads.send(new DescribeKeyCommand({ KeyId: keyId }), { abortSignal });
          if (!out.KeyMetadata)
            throw cloudError('CLOUD_ERROR', CLOUD, `DescribeKey ${keyId} returned no metadata`);
          return out.KeyMetadata;
        } catch (err) {
          throw this.fail(err, 'DescribeKey', keyId, abortSignal);
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
    const keySpec = awsKeySpec(spec);
    const keyOps = checkKeyOps(spec, request.keyOps, CLOUD);
    const usage = awsKeyUsage(spec, keyOps);
    if (request.existingKekName !== undefined || request.kekName !== undefined) {
      throw cloudError(
        'REQUEST_INVALID',
        CLOUD,
        'existingKekName and kekName are Azure options; KMS issues its own wrapping key',
      );
    }
    if (request.keyName.trim() === '') throw cloudError('REQUEST_INVALID', CLOUD, 'keyName is empty');
    this.checkAliasRequest(request);
    const bits = request.wrappingKeyBits ?? DEFAULT_WRAPPING_BITS;
    const { algorithm, notes } = chooseAwsAlgorithm(
      spec,
      request.hsmOaepHashes ?? ['sha1', 'sha256'],
      request.wrappingAlgorithm,
      bits,
    );
    const created: CreatedResource[] = [];
    try {
      let keyId: string;
      if (request.existingKeyId) {
        const meta = await this.describe(request.existingKeyId, abortSignal);
        this.checkImportable(meta, request.existingKeyId, keySpec, usage);
        keyId = meta.Arn ?? request.existingKeyId;
        notes.push(`importing into the existing EXTERNAL key ${keyId}`);
      } else {
        // A repeated call (its owner crashed after CreateKey) finds the key it made instead of making another.
        const earlier = await this.reusableKey(request, keySpec, usage, notes, abortSignal);
        keyId = earlier?.keyId ?? (await this.createExternalKey(request, keySpec, usage, abortSignal));
        created.push({ kind: 'aws-kms-key', id: keyId });
        if (!earlier) await options.onCreated?.(keyId);
        if (request.alias) {
          if (!earlier?.aliased) await this.createAlias(request.alias, keyId, notes, abortSignal);
          created.push({ kind: 'aws-kms-alias', id: request.alias });
        }
      }
      const params = await this.parameters(keyId, algorithm, bits, abortSignal);
      return {
        cloud: this.cloud,
        location: this.location,
        keyName: request.keyName,
        spec,
        keyOps,
        ...params,
        keyId,
        ...(request.alias ? { alias: request.alias } : {}),
        wrap: instructionsFor(spec, algorithm),
        created,
        notes,
      };
    } catch (err) {
      const mapped = isCloudError(err) ? err : this.fail(err, 'prepareImport', request.keyName, abortSignal);
      if (created.length === 0) throw mapped;
      let cleaned = false;
      if (request.cleanupOnFailure) {
        cleaned = await this.removeCreated(created, 7, abortSignal).then(
          () => true,
          () => false,
        );
      }
      throw mapped.withCreated(created, cleaned);
    }
  }

  private checkAliasRequest(request: PrepareImportRequest): void {
    const alias = request.alias;
    if (alias === undefined) return;
    if (!ALIAS_NAME.test(alias)) {
      throw cloudError(
        'REQUEST_INVALID',
        CLOUD,
        `alias '${alias}' is not alias/<name> (1-250 letters, digits, /, _, -, :)`,
      );
    }
    if (alias.startsWith('alias/aws/')) {
      throw cloudError(
        'REQUEST_INVALID',
        CLOUD,
        `alias '${alias}': alias/aws/ is reserved for AWS managed keys`,
      );
    }
    if (request.existingKeyId !== undefined) {
      throw cloudError(
        'REQUEST_INVALID',
        CLOUD,
        'alias is for the key prepareImport creates, not with existingKeyId',
      );
    }
  }

  // ---- preflight, ownership, reuse ------------------------------------------------------------------------

  /**
   * Read-only checks before anything is created: the alias is free (or already names a PendingImport key of
   * `owner`, an earlier run of the same ceremony), an existing key can take material now. Throws the same
   * one-line CloudErrors prepareImport would, without creating anything.
   */
  async preflight(request: PrepareImportRequest, options: OperationOptions = {}): Promise<AwsPreflight> {
    const { abortSignal } = options;
    this.checkAliasRequest(request);
    const notes: string[] = [];
    if (request.alias) {
      const ours = await this.aliasedKeyOf(request.alias, request.owner, abortSignal);
      notes.push(
        ours
          ? `${request.alias} already names ${ours.Arn}, the PendingImport key an earlier attempt created: it will be reused`
          : `${request.alias} is free`,
      );
    }
    if (request.existingKeyId) {
      const spec = checkCloudKeySpec(request.spec);
      const usage = awsKeyUsage(spec, checkKeyOps(spec, request.keyOps, CLOUD));
      const meta = await this.describe(request.existingKeyId, abortSignal);
      this.checkImportable(meta, request.existingKeyId, awsKeySpec(spec), usage);
      notes.push(`${meta.Arn ?? request.existingKeyId} is EXTERNAL and PendingImport`);
    }
    return { notes };
  }

  /** DescribeKey, or undefined when KMS says there is no such key / alias. */
  private async describeIfExists(keyId: string, abortSignal?: AbortSignal): Promise<KeyMetadata | undefined> {
    try {
      return await this.describe(keyId, abortSignal);
    } catch (err) {
      if (isCloudError(err, 'KEY_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  /** Every page of a paged KMS read (Marker / NextMarker), each read retried like any other. */
  private async *pages<P extends { Truncated?: boolean; NextMarker?: string }>(
    operation: string,
    subject: string | undefined,
    send: (marker: string | undefined) => Promise<P>,
    abortSignal?: AbortSignal,
  ): AsyncGenerator<P> {
    let marker: string | undefined;
    do {
      const page = await readWithRetry(
        async () => {
          try {
            return await send(marker);
          } catch (err) {
            throw this.fail(err, operation, subject, abortSignal);
          }
        },
        this.config.retry,
        abortSignal,
      );
      yield page;
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
  }

  /** Whether the key carries the owner's tag (ListResourceTags, every page). */
  private async isOwned(keyId: string, owner: KeyOwner, abortSignal?: AbortSignal): Promise<boolean> {
    const tags = this.pages(
      'ListResourceTags',
      keyId,
      (marker) =>
        this.reads.send(
          new ListResourceTagsCommand({ KeyId: keyId, ...(marker ? { Marker: marker } : {}) }),
          {
            abortSignal,
          },
        ),
      abortSignal,
    );
    for await (const page of tags) {
      if (page.Tags?.some((t) => t.TagKey === owner.tagKey && t.TagValue === owner.tagValue)) return true;
    }
    return false;
  }

  /**
   * The key `alias` names when it is the owner's and PendingImport (reusable); undefined when the alias is
   * free. Anything else is ALIAS_IN_USE: another key has it, or the owner's key already holds material.
   */
  private async aliasedKeyOf(
    alias: string,
    owner: KeyOwner | undefined,
    abortSignal?: AbortSignal,
  ): Promise<KeyMetadata | undefined> {
    const meta = await this.describeIfExists(alias, abortSignal);
    if (!meta) return undefined;
    const arn = meta.Arn ?? meta.KeyId ?? '?';
    const ours = owner !== undefined && (await this.isOwned(arn, owner, abortSignal));
    if (!ours) {
      throw cloudError(
        'ALIAS_IN_USE',
        CLOUD,
        `${alias} already names ${arn}, a key ${owner ? `not tagged ${owner.tagKey}=${owner.tagValue}` : 'that exists'}: ` +
          'choose another alias, or delete that alias first (nothing was created)',
      );
    }
    if (meta.KeyState !== 'PendingImport' || meta.Origin !== 'EXTERNAL') {
      throw cloudError(
        'ALIAS_IN_USE',
        CLOUD,
        `${alias} already names ${arn} (${meta.Origin}, ${meta.KeyState}), created earlier for ` +
          `${owner.tagKey}=${owner.tagValue} and no longer waiting for material: choose another alias`,
      );
    }
    return meta;
  }

  /**
   * Keys of the account carrying the owner's tag, oldest first (ListKeys, then ListResourceTags per key;
   * keys whose tags cannot be read, such as AWS managed keys, are skipped).
   */
  async findOwnedKeys(owner: KeyOwner, options: OperationOptions = {}): Promise<KeyMetadata[]> {
    const { abortSignal } = options;
    const ids: string[] = [];
    const keys = this.pages(
      'ListKeys',
      undefined,
      (marker) =>
        this.reads.send(new ListKeysCommand({ Limit: 1000, ...(marker ? { Marker: marker } : {}) }), {
          abortSignal,
        }),
      abortSignal,
    );
    for await (const page of keys) {
      for (const k of page.Keys ?? []) if (k.KeyArn ?? k.KeyId) ids.push(k.KeyArn ?? k.KeyId ?? '');
    }
    const owned: KeyMetadata[] = [];
    for (let i = 0; i < ids.length; i += SEARCH_CONCURRENCY) {
      const batch = await Promise.all(
        ids.slice(i, i + SEARCH_CONCURRENCY).map(async (id) => {
          try {
            return (await this.isOwned(id, owner, abortSignal))
              ? await this.describeIfExists(id, abortSignal)
              : undefined;
          } catch (err) {
            if (isCloudError(err, 'KEY_NOT_FOUND') || isCloudError(err, 'CLOUD_PERMISSION_DENIED'))
              return undefined;
            throw err;
          }
        }),
      );
      for (const meta of batch) if (meta) owned.push(meta);
    }
    return owned.sort((a, b) => (a.CreationDate?.getTime() ?? 0) - (b.CreationDate?.getTime() ?? 0));
  }

  /**
   * A key an earlier attempt of the same owner created and left PendingImport: the alias's key first, then the
   * recorded `knownKeyId`, then (owner.search) any key with the owner's tag. Other PendingImport keys of the
   * owner with the same spec are extra (made by attempts that died unrecorded): scheduled for deletion.
   */
  private async reusableKey(
    request: PrepareImportRequest,
    keySpec: AwsKeySpec,
    usage: AwsKeyUsage,
    notes: string[],
    abortSignal?: AbortSignal,
  ): Promise<{ keyId: string; aliased: boolean } | undefined> {
    const owner = request.owner;
    const candidates = new Map<string, { meta: KeyMetadata; how: string }>();
    const add = (meta: KeyMetadata, how: string) => {
      const arn = meta.Arn ?? meta.KeyId;
      if (arn && !candidates.has(arn)) candidates.set(arn, { meta, how });
    };
    const aliased = request.alias ? await this.aliasedKeyOf(request.alias, owner, abortSignal) : undefined;
    if (!owner) return undefined; // without an owner, any key under the alias was refused above
    if (aliased) add(aliased, `its alias ${request.alias}`);
    if (owner.knownKeyId) {
      const meta = await this.describeIfExists(owner.knownKeyId, abortSignal);
      if (meta && (await this.isOwned(meta.Arn ?? owner.knownKeyId, owner, abortSignal))) {
        add(meta, 'the key id an earlier attempt recorded');
      } else {
        notes.push(
          `the recorded key ${owner.knownKeyId} is gone or not tagged ${owner.tagKey}=${owner.tagValue}: ignored`,
        );
      }
    }
    if (owner.search) {
      for (const meta of await this.findOwnedKeys(owner, abortSignal ? { abortSignal } : {})) {
        add(meta, `its tag ${owner.tagKey}=${owner.tagValue}`);
      }
    }
    const usable = [...candidates.entries()].filter(
      ([, { meta }]) =>
        meta.KeyState === 'PendingImport' &&
        meta.Origin === 'EXTERNAL' &&
        meta.KeySpec === keySpec &&
        meta.KeyUsage === usage,
    );
    const [primary, ...extras] = usable;
    for (const [arn] of extras) {
      await this.scheduleDeletion(arn, 7, abortSignal);
      notes.push(`${arn}: an extra key an earlier attempt created and never used: scheduled for deletion`);
    }
    if (!primary) return undefined;
    const [keyId, { how }] = primary;
    notes.push(`reusing ${keyId}, created by an earlier attempt (found by ${how}); no new key created`);
    return { keyId, aliased: aliased !== undefined && (aliased.Arn ?? aliased.KeyId) === keyId };
  }

  /** CreateAlias; an alias an unclear earlier call already made for this key is fine, another key's is not. */
  private async createAlias(
    alias: string,
    keyId: string,
    notes: string[],
    abortSignal?: AbortSignal,
  ): Promise<void> {
    const namesKey = async () => {
      const meta = await this.describeIfExists(alias, abortSignal);
      return meta !== undefined && (meta.Arn === keyId || meta.KeyId === keyId);
    };
    try {
      await writeOnce({
        attempt: async () => {
          try {
            return await this.writes.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }), {
              abortSignal,
            });
          } catch (err) {
            throw this.fail(err, 'CreateAlias', alias, abortSignal);
          }
        },
        reconcile: async () => ((await namesKey()) ? { $metadata: {} } : undefined),
        settings: this.config.retry,
        note: (line) => notes.push(`CreateAlias: ${line}`),
        ...(abortSignal ? { abortSignal } : {}),
      });
      notes.push(`${alias} now names ${keyId}`);
    } catch (err) {
      if (isCloudError(err, 'ALIAS_IN_USE') && (await namesKey())) {
        notes.push(`${alias} already named ${keyId} (an earlier call made it)`);
        return;
      }
      throw err;
    }
  }

  /** DeleteAlias only while the alias names one of `ours`; "not found" is done. */
  private async deleteAliasOf(
    alias: string,
    ours: readonly string[],
    abortSignal?: AbortSignal,
  ): Promise<'deleted' | 'gone' | 'other'> {
    const meta = await this.describeIfExists(alias, abortSignal);
    if (!meta) return 'gone';
    if (!ours.some((id) => id === meta.Arn || id === meta.KeyId)) return 'other';
    const out = await writeOnce({
      attempt: async () => {
        try {
          await this.writes.send(new DeleteAliasCommand({ AliasName: alias }), { abortSignal });
          return 'deleted' as const;
        } catch (err) {
          const mapped = this.fail(err, 'DeleteAlias', alias, abortSignal);
          if (mapped.code === 'KEY_NOT_FOUND') return 'gone' as const;
          throw mapped;
        }
      },
      reconcile: async () =>
        (await this.describeIfExists(alias, abortSignal)) ? undefined : ('deleted' as const),
      settings: this.config.retry,
      ...(abortSignal ? { abortSignal } : {}),
    });
    return out;
  }

  /** prepareImport's own failure cleanup: its alias (while it names our key), then its key. */
  private async removeCreated(
    created: readonly CreatedResource[],
    days: number,
    abortSignal?: AbortSignal,
  ): Promise<void> {
    const keys = created.filter((r) => r.kind === 'aws-kms-key').map((r) => r.id);
    for (const r of created)
      if (r.kind === 'aws-kms-alias') await this.deleteAliasOf(r.id, keys, abortSignal);
    for (const id of keys) await this.scheduleDeletion(id, days, abortSignal);
  }

  /**
   * Compensation when no preparation came back (the caller was cancelled or failed while prepareImport ran):
   * finds what `owner` created (the alias's key if it is the owner's, keys with the owner's tag), deletes the
   * alias while it names one of them, and schedules deletion of those still PendingImport. A key that holds
   * material, or an alias naming someone else's key, is left alone and named in `kept` / `notes`.
   */
  async discardOwned(request: DiscardOwnedRequest, options: OperationOptions = {}): Promise<CleanupResult> {
    const { abortSignal } = options;
    const { owner } = request;
    const keys = new Map<string, KeyMetadata>();
    const notes: string[] = [];
    if (request.alias) {
      const meta = await this.describeIfExists(request.alias, abortSignal);
      const arn = meta?.Arn ?? meta?.KeyId;
      if (meta && arn && (await this.isOwned(arn, owner, abortSignal))) keys.set(arn, meta);
    }
    for (const meta of await this.findOwnedKeys(owner, options)) {
      const arn = meta.Arn ?? meta.KeyId;
      if (arn && !keys.has(arn)) keys.set(arn, meta);
    }
    const deleted: string[] = [];
    const kept: string[] = [];
    if (request.alias) {
      const done = await this.deleteAliasOf(request.alias, [...keys.keys()], abortSignal);
      if (done === 'deleted') deleted.push(request.alias);
      else if (done === 'other')
        notes.push(`${request.alias} names a key not tagged ${owner.tagKey}=${owner.tagValue}: not touched`);
    }
    const scheduled: { id: string; deletionDate?: string }[] = [];
    for (const [arn, meta] of keys) {
      if (meta.KeyState === 'PendingImport' || meta.KeyState === 'PendingDeletion') {
        const date = await this.scheduleDeletion(arn, request.pendingWindowInDays ?? 7, abortSignal);
        scheduled.push({ id: arn, ...(date ? { deletionDate: date } : {}) });
      } else {
        kept.push(arn);
        notes.push(`${arn} is ${meta.KeyState}: it holds material, so it was not scheduled for deletion`);
      }
    }
    if (keys.size === 0)
      notes.push(`no key tagged ${owner.tagKey}=${owner.tagValue} was found: nothing to discard`);
    return { deleted, purged: [], scheduledForDeletion: scheduled, kept, notes };
  }

  /** Checks an existing key can take material now: EXTERNAL, same spec and usage, PendingImport. */
  private checkImportable(meta: KeyMetadata, keyId: string, keySpec: AwsKeySpec, usage: AwsKeyUsage): void {
    if (meta.Origin !== 'EXTERNAL') {
      throw cloudError(
        'KEY_NOT_EXTERNAL',
        CLOUD,
        `${keyId} has Origin ${meta.Origin ?? 'unknown'}; key material can only be imported into an EXTERNAL key`,
      );
    }
    if (meta.KeySpec !== keySpec || meta.KeyUsage !== usage) {
      throw cloudError(
        'KEY_SPEC_MISMATCH',
        CLOUD,
        `${keyId} is ${meta.KeySpec} / ${meta.KeyUsage}, but the key to import is ${keySpec} / ${usage}`,
      );
    }
    if (meta.KeyState === 'Enabled' || meta.KeyState === 'Disabled') {
      throw cloudError(
        'KEY_ALREADY_HAS_MATERIAL',
        CLOUD,
        `${keyId} already has key material (state ${meta.KeyState}); import into a new key` +
          (keySpec === 'SYMMETRIC_DEFAULT' ? ', or rotate it (prepareRotation)' : ''),
      );
    }
    if (meta.KeyState !== 'PendingImport') {
      throw cloudError('KEY_INVALID_STATE', CLOUD, `${keyId} is ${meta.KeyState}; it must be PendingImport`);
    }
  }

  private async createExternalKey(
    request: PrepareImportRequest,
    keySpec: AwsKeySpec,
    usage: AwsKeyUsage,
    abortSignal?: AbortSignal,
  ): Promise<string> {
    // A per-request marker, so that a key made by a request whose answer was lost can be found and removed.
    const marker = randomBytes(8).toString('hex');
    const description = request.description ?? `byok: ${request.keyName} (request ${marker})`;
    const out = await writeOnce({
      attempt: async () => {
        try {
          return await this.writes.send(
            new CreateKeyCommand({
              Origin: 'EXTERNAL',
              KeySpec: keySpec,
              KeyUsage: usage,
              Description: description,
              Tags: tagList(request, marker),
            }),
            { abortSignal },
          );
        } catch (err) {
          throw this.fail(err, 'CreateKey', `(${keySpec}, EXTERNAL)`, abortSignal);
        }
      },
      // CreateKey is not idempotent and cannot be looked up cheaply: say what to look for instead of guessing.
      reconcile: async () => undefined,
      ambiguous: (err) =>
        err.amend(
          `; a key may have been created: look for tag byok:request=${marker} and schedule its deletion if it exists`,
        ),
      settings: this.config.retry,
      ...(abortSignal ? { abortSignal } : {}),
    });
    const arn = out.KeyMetadata?.Arn ?? out.KeyMetadata?.KeyId;
    if (!arn) throw cloudError('CLOUD_ERROR', CLOUD, 'CreateKey returned no key id');
    return arn;
  }

  private async parameters(
    keyId: string,
    algorithm: AwsWrappingAlgorithm,
    bits: WrappingKeyBits,
    abortSignal?: AbortSignal,
  ): Promise<Pick<ImportPreparation, 'kek' | 'importToken' | 'expiresAt'>> {
    const out = await readWithRetry(
      async () => {
        try {
          return await this.reads.send(
            new GetParametersForImportCommand({
              KeyId: keyId,
              WrappingAlgorithm: algorithm,
              WrappingKeySpec: `RSA_${bits}`,
            }),
            { abortSignal },
          );
        } catch (err) {
          throw this.fail(err, 'GetParametersForImport', keyId, abortSignal, 'parameters');
        }
      },
      this.config.retry,
      abortSignal,
    );
    if (!out.PublicKey || !out.ImportToken || !out.ParametersValidTo) {
      throw cloudError(
        'CLOUD_ERROR',
        CLOUD,
        `GetParametersForImport for ${keyId} returned an incomplete answer`,
      );
    }
    const publicKey = createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
    const kek = kekFromPublicKey(publicKey);
    if (kek.modulusBits !== bits) {
      throw cloudError(
        'CLOUD_ERROR',
        CLOUD,
        `KMS returned an RSA-${kek.modulusBits} wrapping key, not the RSA_${bits} asked for`,
      );
    }
    return {
      kek: {
        id: keyId,
        publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        fingerprint: kek.fingerprint,
        bits,
      },
      importToken: Buffer.from(out.ImportToken).toString('base64'),
      expiresAt: out.ParametersValidTo.toISOString(),
    };
  }

  /** New material for an EXTERNAL symmetric key, then RotateKeyOnDemand (importWrappedKey does both). */
  async prepareRotation(
    request: PrepareRotationRequest,
    options: OperationOptions = {},
  ): Promise<ImportPreparation> {
    const { abortSignal } = options;
    const meta = await this.describe(request.keyId, abortSignal);
    if (meta.Origin !== 'EXTERNAL' || meta.KeySpec !== 'SYMMETRIC_DEFAULT') {
      throw cloudError(
        'UNSUPPORTED_KEY_SPEC',
        CLOUD,
        `${request.keyId} is ${meta.KeySpec} / ${meta.Origin}: on-demand rotation of imported material is for EXTERNAL ` +
          'SYMMETRIC_DEFAULT keys only (not asymmetric, HMAC, or multi-Region keys)',
      );
    }
    if (meta.MultiRegion) {
      throw cloudError(
        'UNSUPPORTED_KEY_SPEC',
        CLOUD,
        `${request.keyId} is multi-Region: KMS does not rotate its imported material on demand`,
      );
    }
    if (meta.KeyState !== 'Enabled') {
      throw cloudError(
        'KEY_INVALID_STATE',
        CLOUD,
        `${request.keyId} is ${meta.KeyState}; rotation needs an Enabled key`,
      );
    }
    const spec: CloudKeySpec = { kind: 'aes', bits: 256 };
    const bits = request.wrappingKeyBits ?? DEFAULT_WRAPPING_BITS;
    const { algorithm, notes } = chooseAwsAlgorithm(
      spec,
      request.hsmOaepHashes ?? ['sha1', 'sha256'],
      request.wrappingAlgorithm,
      bits,
    );
    const keyId = meta.Arn ?? request.keyId;
    const params = await this.parameters(keyId, algorithm, bits, abortSignal);
    return {
      cloud: this.cloud,
      location: this.location,
      keyName: request.keyName ?? keyId,
      spec,
      keyOps: ['encrypt', 'decrypt'],
      ...params,
      keyId,
      wrap: instructionsFor(spec, algorithm),
      rotation: true,
      created: [],
      notes: [...notes, 'the new material becomes current by RotateKeyOnDemand right after the import'],
    };
  }

  async refreshPreparation(
    preparation: ImportPreparation,
    options: OperationOptions = {},
  ): Promise<ImportPreparation> {
    this.checkOwn(preparation);
    const algorithm = preparation.wrap.awsAlgorithm;
    if (!algorithm || !preparation.keyId) {
      throw cloudError(
        'PREPARATION_MISMATCH',
        CLOUD,
        'the preparation has no KMS key id or wrapping algorithm',
      );
    }
    const bits = preparation.kek.bits as WrappingKeyBits;
    const params = await this.parameters(preparation.keyId, algorithm, bits, options.abortSignal);
    return {
      ...preparation,
      ...params,
      notes: [
        ...preparation.notes,
        'new import parameters fetched: the key must be wrapped again under the new public key',
      ],
    };
  }

  private checkOwn(preparation: ImportPreparation): void {
    if (preparation.cloud !== this.cloud || preparation.location !== this.location) {
      throw cloudError(
        'PREPARATION_MISMATCH',
        CLOUD,
        `the preparation is for ${preparation.cloud} ${preparation.location}, not ${this.location}`,
      );
    }
  }

  // ---- import --------------------------------------------------------------------------------------------

  async importWrappedKey(
    preparation: ImportPreparation,
    wrapped: Uint8Array,
    options: ImportWrappedKeyOptions = {},
  ): Promise<ImportedKey> {
    const { abortSignal } = options;
    this.checkOwn(preparation);
    const keyId = preparation.keyId;
    if (!keyId || !preparation.importToken) {
      throw cloudError('PREPARATION_MISMATCH', CLOUD, 'the preparation has no KMS key id or import token');
    }
    const now = options.now ?? new Date();
    if (isPreparationExpired(preparation, now)) {
      throw cloudError(
        'IMPORT_TOKEN_EXPIRED',
        CLOUD,
        `the import token for ${keyId} expired at ${preparation.expiresAt}; call refreshPreparation and wrap the key again`,
      );
    }
    const expiry = this.expiry(options.validTo, now);
    const meta = await this.describe(keyId, abortSignal);
    const rotation = preparation.rotation === true;
    if (!rotation && meta.KeyState !== 'PendingImport') {
      throw cloudError(
        meta.KeyState === 'Enabled' || meta.KeyState === 'Disabled'
          ? 'KEY_ALREADY_HAS_MATERIAL'
          : 'KEY_INVALID_STATE',
        CLOUD,
        `${keyId} is ${meta.KeyState}; key material can only be imported while it is PendingImport`,
      );
    }
    const rotationsBefore = rotation ? await this.rotationCount(keyId, abortSignal) : 0;
    const notes: string[] = [];
    const out = await writeOnce({
      attempt: async () => {
        try {
          return await this.writes.send(
            new ImportKeyMaterialCommand({
              KeyId: keyId,
              ImportToken: Buffer.from(preparation.importToken ?? '', 'base64'),
              EncryptedKeyMaterial: Buffer.from(wrapped),
              ...expiry,
              ...(rotation ? { ImportType: 'NEW_KEY_MATERIAL' } : {}),
            }),
            { abortSignal },
          );
        } catch (err) {
          throw this.fail(err, 'ImportKeyMaterial', keyId, abortSignal, 'import');
        }
      },
      reconcile: async () => {
        if (rotation) {
          const count = await this.rotationCount(keyId, abortSignal);
          return count > rotationsBefore ? { KeyId: keyId, $metadata: {} } : undefined;
        }
        const state = (await this.describe(keyId, abortSignal)).KeyState;
        return state === 'PendingImport' ? undefined : { KeyId: keyId, $metadata: {} };
      },
      settings: this.config.retry,
      note: (line) => notes.push(`ImportKeyMaterial: ${line}`),
      ...(abortSignal ? { abortSignal } : {}),
    });
    if (rotation) await this.rotate(keyId, notes, abortSignal);
    const publicKeyPem =
      preparation.spec.kind === 'rsa' || preparation.spec.kind === 'ec'
        ? await this.publicKeyPem(keyId, abortSignal)
        : undefined;
    return {
      cloud: this.cloud,
      location: this.location,
      keyName: preparation.keyName,
      keyId,
      ...(out.KeyMaterialId ? { version: out.KeyMaterialId } : {}),
      ...(preparation.alias ? { alias: preparation.alias } : {}),
      spec: preparation.spec,
      keyOps: preparation.keyOps,
      ...(publicKeyPem
        ? { publicKeyPem, publicKeyFingerprint: spkiFingerprint(createPublicKey(publicKeyPem)) }
        : {}),
      notes,
    };
  }

  /** KEY_MATERIAL_EXPIRES wants ValidTo in whole seconds, in the future, at most 365 days ahead. */
  private expiry(validTo: Date | undefined, now: Date) {
    if (validTo === undefined) return { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' as const };
    const whole = new Date(Math.floor(validTo.getTime() / 1000) * 1000);
    if (Number.isNaN(whole.getTime()) || whole.getTime() <= now.getTime()) {
      throw cloudError('REQUEST_INVALID', CLOUD, 'validTo must be in the future');
    }
    if (whole.getTime() - now.getTime() > MAX_VALID_TO_MS) {
      throw cloudError('REQUEST_INVALID', CLOUD, 'validTo must be at most 365 days from now');
    }
    return { ExpirationModel: 'KEY_MATERIAL_EXPIRES' as const, ValidTo: whole };
  }

  private async rotationCount(keyId: string, abortSignal?: AbortSignal): Promise<number> {
    return readWithRetry(
      async () => {
        try {
          const out = await this.reads.send(
            new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }),
            { abortSignal },
          );
          return out.Rotations?.length ?? 0;
        } catch (err) {
          throw this.fail(err, 'ListKeyRotations', keyId, abortSignal);
        }
      },
      this.config.retry,
      abortSignal,
    );
  }

  private async rotate(keyId: string, notes: string[], abortSignal?: AbortSignal): Promise<void> {
    await writeOnce({
      attempt: async () => {
        try {
          return await this.writes.send(new RotateKeyOnDemandCommand({ KeyId: keyId }), { abortSignal });
        } catch (err) {
          throw this.fail(err, 'RotateKeyOnDemand', keyId, abortSignal);
        }
      },
      // Not repeated blindly: a second rotation would need a second new material and use up one of ten.
      reconcile: async () => undefined,
      ambiguous: (err) => err.amend('; check ListKeyRotations before rotating again'),
      settings: this.config.retry,
      note: (line) => notes.push(`RotateKeyOnDemand: ${line}`),
      ...(abortSignal ? { abortSignal } : {}),
    });
    notes.push(`${keyId} rotated on demand to the imported material`);
  }

  private async publicKeyPem(keyId: string, abortSignal?: AbortSignal): Promise<string> {
    const out = await readWithRetry(
      async () => {
        try {
          return await this.reads.send(new GetPublicKeyCommand({ KeyId: keyId }), { abortSignal });
        } catch (err) {
          throw this.fail(err, 'GetPublicKey', keyId, abortSignal);
        }
      },
      this.config.retry,
      abortSignal,
    );
    if (!out.PublicKey) throw cloudError('CLOUD_ERROR', CLOUD, `GetPublicKey ${keyId} returned no key`);
    return createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
  }

  /**
   * An imported key as `verifyImport` takes it, read back from KMS (the split flow's verify): spec from
   * KeySpec, key ops from KeyUsage, the public key for RSA/ECC.
   */
  async getImportedKey(keyId: string, options: OperationOptions = {}): Promise<ImportedKey> {
    const { abortSignal } = options;
    const meta = await this.describe(keyId, abortSignal);
    const spec = cloudKeySpecOfAws(meta.KeySpec ?? '');
    if (!spec)
      throw cloudError('UNSUPPORTED_KEY_SPEC', CLOUD, `${keyId} is ${meta.KeySpec ?? 'of no key spec'}`);
    const keyOps: KeyOp[] =
      meta.KeyUsage === 'ENCRYPT_DECRYPT'
        ? spec.kind === 'aes'
          ? ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey']
          : ['encrypt', 'decrypt']
        : ['sign', 'verify'];
    const arn = meta.Arn ?? keyId;
    const publicKeyPem =
      spec.kind === 'rsa' || spec.kind === 'ec' ? await this.publicKeyPem(arn, abortSignal) : undefined;
    return {
      cloud: this.cloud,
      location: this.location,
      keyName: meta.Description ?? arn,
      keyId: arn,
      ...(meta.CurrentKeyMaterialId ? { version: meta.CurrentKeyMaterialId } : {}),
      spec,
      keyOps,
      ...(publicKeyPem
        ? { publicKeyPem, publicKeyFingerprint: spkiFingerprint(createPublicKey(publicKeyPem)) }
        : {}),
      notes: [`KMS key state: ${meta.KeyState ?? 'unknown'}`],
    };
  }

  // ---- verify --------------------------------------------------------------------------------------------

  async verifyImport(
    imported: ImportedKey,
    proof: HsmProof,
    options: VerifyImportOptions = {},
  ): Promise<Verification> {
    const { abortSignal } = options;
    const keyId = imported.keyId;
    const spec = imported.spec;
    const what = `${describeCloudKeySpec(spec)} ${keyId}`;
    const checks: VerificationCheck[] = [];
    const notes: string[] = [];
    const call = async <T>(operation: string, fn: () => Promise<T>): Promise<T> =>
      readWithRetry(
        async () => {
          try {
            return await fn();
          } catch (err) {
            throw this.fail(err, operation, keyId, abortSignal);
          }
        },
        this.config.retry,
        abortSignal,
      );

    if (spec.kind === 'rsa' || spec.kind === 'ec') {
      const hsmKey = requireHsmPublicKey(proof, CLOUD, what);
      const cloudKey = createPublicKey(await this.publicKeyPem(keyId, abortSignal));
      checks.push(comparePublicKeys(cloudKey, hsmKey, CLOUD, keyId));
      const meta = await this.describe(keyId, abortSignal);
      if (meta.KeyUsage === 'SIGN_VERIFY') {
        const hash = signatureHash(spec);
        const algorithm = spec.kind === 'rsa' ? 'RSASSA_PKCS1_V1_5_SHA_256' : ECDSA_ALGORITHM[hash];
        const message = challenge(keyId);
        const out = await call('Sign', () =>
          this.reads.send(
            new SignCommand({
              KeyId: keyId,
              Message: message,
              MessageType: 'RAW',
              SigningAlgorithm: algorithm,
            }),
            {
              abortSignal,
            },
          ),
        );
        checks.push(
          checkCloudSignature({
            hsmKey,
            hash,
            message,
            signature: Buffer.from(out.Signature ?? new Uint8Array()),
            dsaEncoding: 'der',
            cloud: CLOUD,
            keyId,
            algorithm,
          }),
        );
      } else {
        const secret = randomBytes(32);
        const ciphertext = publicEncrypt(
          { key: hsmKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          secret,
        );
        const out = await call('Decrypt', () =>
          this.reads.send(
            new DecryptCommand({
              KeyId: keyId,
              CiphertextBlob: ciphertext,
              EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
            }),
            {
              abortSignal,
            },
          ),
        );
        checks.push(
          equalOrFail(
            Buffer.from(out.Plaintext ?? new Uint8Array()),
            secret,
            CLOUD,
            'hsm-encrypt-cloud-decrypt',
            `${keyId} cannot decrypt what was encrypted to the HSM's public key`,
            'RSAES_OAEP_SHA_256 ciphertext made with the HSM public key decrypted by KMS',
          ),
        );
      }
    } else if (spec.kind === 'hmac') {
      if (!proof.hmac)
        throw cloudError(
          'VERIFY_PROOF_MISSING',
          CLOUD,
          `verifying ${what} needs an HSM HMAC port (proof.hmac)`,
        );
      const message = challenge(keyId);
      const macAlgorithm = MAC_ALGORITHM[spec.bits];
      const out = await call('GenerateMac', () =>
        this.reads.send(
          new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: macAlgorithm }),
          { abortSignal },
        ),
      );
      const hsmMac = Buffer.from(await proof.hmac(message, `sha${spec.bits}`));
      checks.push(
        equalOrFail(
          Buffer.from(out.Mac ?? new Uint8Array()),
          hsmMac,
          CLOUD,
          'mac-equal',
          `${macAlgorithm} of the same message differs between KMS and the HSM: another key was imported`,
          `${macAlgorithm} of a random message is the same in KMS and in the HSM`,
        ),
      );
    } else {
      const plaintext = randomBytes(32);
      const context = { 'byok-verification': randomBytes(8).toString('hex') };
      const enc = await call('Encrypt', () =>
        this.reads.send(
          new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: context }),
          { abortSignal },
        ),
      );
      const dec = await call('Decrypt', () =>
        this.reads.send(
          new DecryptCommand({
            KeyId: keyId,
            CiphertextBlob: enc.CiphertextBlob,
            EncryptionContext: context,
          }),
          { abortSignal },
        ),
      );
      checks.push(
        equalOrFail(
          Buffer.from(dec.Plaintext ?? new Uint8Array()),
          plaintext,
          CLOUD,
          'cloud-encrypt-decrypt',
          `Encrypt/Decrypt round trip with ${keyId} did not return the plaintext`,
          'Encrypt then Decrypt in KMS returned the random plaintext',
        ),
      );
      notes.push(
        'KMS symmetric ciphertexts use keys derived inside KMS, so the HSM cannot reproduce them: the import ' +
          'itself proved the material (KMS unwrapped it) and the round trip proves it is usable' +
          (proof.encryptAesCbc ? '; the HSM encrypt port was not used' : ''),
      );
    }
    if (imported.alias) checks.push(await this.checkAlias(imported.alias, keyId, abortSignal));
    return { keyId, checks, notes };
  }

  /** The alias must resolve (DescribeKey alias/...) to the imported key. */
  private async checkAlias(
    alias: string,
    keyId: string,
    abortSignal?: AbortSignal,
  ): Promise<VerificationCheck> {
    const meta = await this.describeIfExists(alias, abortSignal);
    if (!meta || (meta.Arn !== keyId && meta.KeyId !== keyId)) {
      throw cloudError(
        'VERIFICATION_FAILED',
        CLOUD,
        `${alias} ${meta ? `names ${meta.Arn ?? meta.KeyId}` : 'does not exist'}, not the imported key ${keyId}`,
      );
    }
    return { id: 'alias-resolves', detail: `DescribeKey ${alias} resolves to the imported key ${keyId}` };
  }

  // ---- cleanup -------------------------------------------------------------------------------------------

  async cleanup(preparation: ImportPreparation, options: CleanupOptions = {}): Promise<CleanupResult> {
    this.checkOwn(preparation);
    const scheduled: { id: string; deletionDate?: string }[] = [];
    const kept: string[] = [];
    const notes: string[] = [
      'KMS wrapping keys and import tokens are not resources: they expire on their own',
    ];
    const deleted: string[] = [];
    const keys = preparation.created.filter((r) => r.kind === 'aws-kms-key').map((r) => r.id);
    // The alias first: while it exists it names the key; it goes only while it names a key this run created.
    for (const resource of preparation.created) {
      if (resource.kind !== 'aws-kms-alias') continue;
      if (!options.deleteCreatedKey) {
        kept.push(resource.id);
        continue;
      }
      const done = await this.deleteAliasOf(resource.id, keys, options.abortSignal);
      if (done === 'deleted') deleted.push(resource.id);
      else if (done === 'gone') notes.push(`${resource.id} was already gone`);
      else notes.push(`${resource.id} now names a key this run did not create: not touched`);
    }
    for (const id of keys) {
      if (options.deleteCreatedKey) {
        const date = await this.scheduleDeletion(id, options.pendingWindowInDays ?? 7, options.abortSignal);
        scheduled.push({ id, ...(date ? { deletionDate: date } : {}) });
      } else {
        kept.push(id);
      }
    }
    return { deleted, purged: [], scheduledForDeletion: scheduled, kept, notes };
  }

  /** Removes imported material (the key goes back to PendingImport; reimport needs the same material). */
  async deleteImportedKeyMaterial(keyId: string, options: OperationOptions = {}): Promise<void> {
    const { abortSignal } = options;
    await writeOnce({
      attempt: async () => {
        try {
          await this.writes.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }), { abortSignal });
          return true;
        } catch (err) {
          throw this.fail(err, 'DeleteImportedKeyMaterial', keyId, abortSignal);
        }
      },
      reconcile: async () =>
        (await this.describe(keyId, abortSignal)).KeyState === 'PendingImport' ? true : undefined,
      settings: this.config.retry,
      ...(abortSignal ? { abortSignal } : {}),
    });
  }

  private async scheduleDeletion(
    keyId: string,
    days: number,
    abortSignal?: AbortSignal,
  ): Promise<string | undefined> {
    if (!Number.isInteger(days) || days < 7 || days > 30) {
      throw cloudError('REQUEST_INVALID', CLOUD, 'pendingWindowInDays must be 7 to 30');
    }
    // Already scheduled (a repeated compensation): done, not KMSInvalidStateException.
    const before = await this.describe(keyId, abortSignal);
    if (before.KeyState === 'PendingDeletion') return before.DeletionDate?.toISOString();
    const out = await writeOnce({
      attempt: async () => {
        try {
          return await this.writes.send(
            new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: days }),
            { abortSignal },
          );
        } catch (err) {
          throw this.fail(err, 'ScheduleKeyDeletion', keyId, abortSignal);
        }
      },
      reconcile: async () => {
        const meta = await this.describe(keyId, abortSignal);
        return meta.KeyState === 'PendingDeletion'
          ? { DeletionDate: meta.DeletionDate, $metadata: {} }
          : undefined;
      },
      settings: this.config.retry,
      ...(abortSignal ? { abortSignal } : {}),
    });
    return out.DeletionDate?.toISOString();
  }
}

/** CreateKey's tags: what the key is for, the per-request marker, the owner's tag, the caller's tags. */
function tagList(request: PrepareImportRequest, marker: string): { TagKey: string; TagValue: string }[] {
  const tags = new Map<string, string>([
    ['byok:key-name', request.keyName],
    ['byok:request', marker],
  ]);
  for (const [k, v] of Object.entries(request.tags ?? {})) tags.set(k, v);
  if (request.owner) tags.set(request.owner.tagKey, request.owner.tagValue);
  return [...tags].map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
}
