/**
 * Cloud activities: thin adapters over @byok/clouds. The definition names only the vault URL / region; the
 * endpoint, CA and credentials come from the worker config (`clouds`), read when the activity runs. Every
 * network call gets the activity's cancellation signal as `abortSignal`. CloudError codes become failure
 * types; `retryable` decides whether Temporal may try again.
 *
 * Idempotency (an activity may run again after a worker crash that lost its completion):
 * - prepareImport: a KEK under the ceremony's KEK name found on a retry is the one the first attempt made;
 *   AWS: the EXTERNAL key's ARN is heartbeated as soon as CreateKey answers; a retry reuses the key its alias
 *   names, then the heartbeated one, then any key tagged with this ceremony (a search, on retries only), and
 *   schedules deletion of extra ones, so CreateKey runs once per ceremony;
 * - importWrappedKey: the cloud key is looked at first (Azure: a version tagged with this ceremony; AWS: the
 *   key is no longer PendingImport), and an import that already happened is returned, never repeated.
 */
import { readFileSync } from 'node:fs';
import type { KeyClient, KeyVaultKey } from '@azure/keyvault-keys';
import {
  AwsKmsTarget,
  type AwsWrappingAlgorithm,
  AzureKeyVaultTarget,
  awsAlgorithmProblem,
  type CleanupResult,
  type CloudKeySpec,
  createImportTarget,
  type HsmProof,
  type ImportedKey,
  type ImportPreparation,
  type ImportTarget,
  isCloudError,
  type KeyOp,
  type KeyOwner,
  type PrepareImportRequest,
  publicKeyFromJwk,
  StaticTokenCredential,
  type TargetConfig,
  type WrappingKeyBits,
} from '@byok/clouds';
import { ByokError, spkiFingerprint } from '@byok/core';
import type { CeremonyKeySpec, CeremonyTarget } from '@byok/core/ceremony';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type CloudTargetConfig, readSecret, type WorkerConfig } from '../config.js';
import { hangAtCrashPoint } from './crash.js';
import { checkpoint, previousCheckpoint } from './heartbeat.js';
import { toKeySpec, withHsmSession } from './hsm.js';
import type {
  CleanupInput,
  CloudActivities,
  CloudCleanupReport,
  CloudPreflight,
  CloudStepInput,
  DiscardInput,
  ImportInput,
  ImportResult,
  RevokeInput,
  VerifyInput,
} from './types.js';

/** The tag that ties a cloud key (version) to the ceremony that imported it. */
export const CEREMONY_TAG = 'byok-ceremony';

/** The ceremony as the owner of the AWS key it creates: the key carries `byok-ceremony=<id>`. */
function ceremonyOwner(ceremonyId: string): KeyOwner {
  return { tagKey: CEREMONY_TAG, tagValue: ceremonyId };
}

/** prepareImport's checkpoint (heartbeat details) right after CreateKey: the new key's ARN, nothing secret. */
interface PrepareCheckpoint {
  readonly awsKeyId: string;
}

/** The key id an earlier attempt of this prepareImport checkpointed, if any. */
function checkpointedKeyId(): string | undefined {
  const details = previousCheckpoint() as Partial<PrepareCheckpoint> | undefined;
  return typeof details?.awsKeyId === 'string' ? details.awsKeyId : undefined;
}

function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined; // called outside an activity (the baseline benchmark)
  }
}

function attempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/** CloudError code -> failure type; retryable only when the cloud says trying again may help. */
function asFailure(err: unknown): never {
  if (err instanceof ApplicationFailure) throw err;
  if (isCloudError(err)) {
    throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: !err.retryable });
  }
  if (err instanceof ByokError) {
    throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
  }
  throw err;
}

function configured(config: WorkerConfig, target: CeremonyTarget): CloudTargetConfig {
  const found = config.clouds.find((c) =>
    target.cloud === 'azure'
      ? c.cloud === 'azure' && c.vaultUrl === target.vaultUrl.replace(/\/$/, '')
      : c.cloud === 'aws' && c.region === target.region,
  );
  if (!found) {
    const where = target.cloud === 'azure' ? target.vaultUrl : `AWS region ${target.region}`;
    const known = config.clouds.map((c) => (c.cloud === 'azure' ? c.vaultUrl : `aws ${c.region}`));
    throw ApplicationFailure.nonRetryable(
      `${where} is not configured in this worker (clouds: ${known.join(', ') || 'none'})`,
      'CLOUD_NOT_CONFIGURED',
    );
  }
  return found;
}

/** The @byok/clouds config, secrets read now (kept by the shared SDK client for at most TARGET_TTL_MS). */
function targetConfig(c: CloudTargetConfig): TargetConfig {
  const caCertPem = c.caFile ? readFileSync(c.caFile, 'utf8') : undefined;
  if (c.cloud === 'azure') {
    return {
      cloud: 'azure',
      vaultUrl: c.vaultUrl,
      managedHsm: new URL(c.vaultUrl).hostname.endsWith('.managedhsm.azure.net'),
      credential: c.token
        ? { kind: 'static-token', token: readSecret(c.token, `token of ${c.vaultUrl}`) }
        : { kind: 'default' },
      ...(caCertPem ? { caCertPem } : {}),
      disableChallengeResourceVerification: c.disableChallengeResourceVerification,
      requestTimeoutMs: 30_000,
      retry: { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 5_000 },
    };
  }
  return {
    cloud: 'aws',
    region: c.region,
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    credentials:
      c.accessKeyId && c.secretAccessKey
        ? {
            kind: 'static',
            accessKeyId: readSecret(c.accessKeyId, `AWS access key id of ${c.region}`),
            secretAccessKey: readSecret(c.secretAccessKey, `AWS secret access key of ${c.region}`),
          }
        : { kind: 'default' },
    ...(caCertPem ? { caCertPem } : {}),
    requestTimeoutMs: 30_000,
    retry: { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 5_000 },
  };
}

export function cloudKeySpec(key: CeremonyKeySpec): CloudKeySpec {
  if (key.kind === 'ec') return { kind: 'ec', curve: key.curve };
  if (key.kind === 'rsa') {
    if (key.bits !== 2048 && key.bits !== 3072 && key.bits !== 4096) {
      throw ApplicationFailure.nonRetryable(`RSA-${key.bits} cannot be imported`, 'UNSUPPORTED_KEY_SPEC');
    }
    return { kind: 'rsa', bits: key.bits };
  }
  return { kind: 'aes', bits: key.bits };
}

function awsKeyOps(usage: string): KeyOp[] {
  if (usage === 'SIGN_VERIFY') return ['sign', 'verify'];
  if (usage === 'ENCRYPT_DECRYPT') return ['encrypt', 'decrypt'];
  throw ApplicationFailure.nonRetryable(
    `KMS key usage ${usage} is not supported yet`,
    'UNSUPPORTED_KEY_SPEC',
  );
}

function bitsOf(spec: string): WrappingKeyBits {
  return spec === 'RSA_2048' ? 2048 : spec === 'RSA_3072' ? 3072 : 4096;
}

/** The first of the definition's wrapping algorithms the key type and the HSM allow. */
function awsAlgorithm(
  spec: CloudKeySpec,
  preferred: readonly AwsWrappingAlgorithm[],
  hashes: readonly ('sha1' | 'sha256')[],
  bits: WrappingKeyBits,
): AwsWrappingAlgorithm {
  const ok = preferred.find(
    (a) => !awsAlgorithmProblem(spec, a, bits) && hashes.includes(a.endsWith('SHA_1') ? 'sha1' : 'sha256'),
  );
  if (!ok) {
    throw ApplicationFailure.nonRetryable(
      `none of target.aws.wrappingAlgorithms (${preferred.join(', ')}) fits this key and an HSM that can do OAEP ` +
        `${hashes.join('/')}; symmetric keys need RSAES_OAEP_SHA_1/_256, RSA keys RSA_AES_KEY_WRAP_SHA_*`,
      'UNSUPPORTED_WRAPPING_ALGORITHM',
    );
  }
  return ok;
}

/** What the cloud's prepareImport is asked, derived from the approved definition and the HSM profile. */
export function prepareRequest(config: WorkerConfig, input: CloudStepInput): PrepareImportRequest {
  const spec = cloudKeySpec(input.key);
  const hashes = config.hsmProfiles[input.hsm.profile]?.oaepHashes ?? ['sha1', 'sha256'];
  const t = input.target;
  const common = {
    spec,
    hsmOaepHashes: hashes,
    tags: { [CEREMONY_TAG]: input.ceremonyId },
    description: `byok ceremony ${input.ceremonyId}`,
  };
  if (t.cloud === 'azure') {
    return {
      ...common,
      keyName: t.keyName,
      keyOps: t.keyOps,
      wrappingKeyBits: t.kek.bits,
      kekName: t.kek.name,
    };
  }
  const bits = bitsOf(t.wrappingKeySpec);
  return {
    ...common,
    keyName: (t.alias ?? t.keyId ?? input.ceremonyId).replace(/^alias\//, ''),
    keyOps: awsKeyOps(t.keyUsage),
    wrappingKeyBits: bits,
    wrappingAlgorithm: awsAlgorithm(spec, t.wrappingAlgorithms, hashes, bits),
    // A new key is the ceremony's (tagged, found again on a retry); an existing key is the custodian's.
    ...(t.keyId ? { existingKeyId: t.keyId } : { owner: ceremonyOwner(input.ceremonyId) }),
    ...(t.alias ? { alias: t.alias } : {}),
  };
}

/** A retried cleanup finds what the first attempt deleted gone: that is success, not a failure. */
async function idempotentCleanup(run: () => Promise<CleanupResult>): Promise<CloudCleanupReport> {
  try {
    return report(await run());
  } catch (err) {
    if (isCloudError(err) && (err.code === 'KEY_NOT_FOUND' || err.code === 'KEY_NAME_DELETED')) {
      return {
        deleted: [],
        scheduledForDeletion: [],
        kept: [],
        notes: ['already deleted by an earlier attempt'],
      };
    }
    throw err;
  }
}

function report(r: CleanupResult): CloudCleanupReport {
  return {
    deleted: r.deleted,
    scheduledForDeletion: r.scheduledForDeletion.map((s) => s.id),
    kept: r.kept,
    notes: r.notes,
  };
}

/** A Key Vault client with the worker's credentials, for reading a key's versions and tags. */
async function azureReader(c: Extract<CloudTargetConfig, { cloud: 'azure' }>): Promise<KeyClient> {
  const { KeyClient } = await import('@azure/keyvault-keys');
  const credential = c.token
    ? new StaticTokenCredential(readSecret(c.token, `token of ${c.vaultUrl}`))
    : new (await import('@azure/identity')).DefaultAzureCredential();
  const ca = c.caFile ? readFileSync(c.caFile, 'utf8') : undefined;
  return new KeyClient(c.vaultUrl, credential, {
    disableChallengeResourceVerification: c.disableChallengeResourceVerification,
    ...(ca ? { tlsOptions: { ca } } : {}),
  });
}

/** The version of `name` that this ceremony imported, if any (tagged at import). */
async function findCeremonyVersion(
  client: KeyClient,
  name: string,
  ceremonyId: string,
  abortSignal: AbortSignal | undefined,
): Promise<KeyVaultKey | undefined> {
  try {
    for await (const props of client.listPropertiesOfKeyVersions(name, abortSignal ? { abortSignal } : {})) {
      if (props.tags?.[CEREMONY_TAG] === ceremonyId && props.version) {
        return await client.getKey(name, { version: props.version, ...(abortSignal ? { abortSignal } : {}) });
      }
    }
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
  return undefined;
}

function importedFromAzure(prep: ImportPreparation, key: KeyVaultKey): ImportedKey {
  const publicKey = key.key ? publicKeyFromJwk(key.key) : undefined;
  return {
    cloud: prep.cloud,
    location: prep.location,
    keyName: prep.keyName,
    keyId: key.id ?? `${prep.location}/keys/${prep.keyName}`,
    ...(key.properties.version ? { version: key.properties.version } : {}),
    spec: prep.spec,
    keyOps: prep.keyOps,
    ...(publicKey
      ? {
          publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
          publicKeyFingerprint: spkiFingerprint(publicKey),
        }
      : {}),
    notes: ['found: an earlier attempt of this ceremony imported this version; not imported again'],
  };
}

/**
 * SDK clients per configured cloud, shared by the activities of every ceremony for a few minutes: building
 * one (credential chain, endpoint resolution, a new TLS connection) cost more than the calls of a step
 * (bench/ceremony.mjs). After TARGET_TTL_MS a fresh one is built, so rotated secrets (credential files,
 * tokens) are read again without a restart; the old one is closed once its last user is done.
 */
const TARGET_TTL_MS = 5 * 60_000;

interface SharedTarget {
  readonly target: ImportTarget;
  readonly createdAt: number;
  users: number;
  retired: boolean;
}

class TargetPool {
  readonly #entries = new Map<CloudTargetConfig, SharedTarget>();

  async use<T>(c: CloudTargetConfig, run: (t: ImportTarget) => Promise<T>): Promise<T> {
    let entry = this.#entries.get(c);
    if (entry && Date.now() - entry.createdAt > TARGET_TTL_MS) {
      this.#retire(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = {
        target: createImportTarget(targetConfig(c)),
        createdAt: Date.now(),
        users: 0,
        retired: false,
      };
      this.#entries.set(c, entry);
    }
    entry.users += 1;
    try {
      return await run(entry.target);
    } finally {
      entry.users -= 1;
      if (entry.retired && entry.users === 0) entry.target.close();
    }
  }

  #retire(entry: SharedTarget): void {
    entry.retired = true;
    for (const [key, value] of this.#entries) if (value === entry) this.#entries.delete(key);
    if (entry.users === 0) entry.target.close();
  }

  closeAll(): void {
    for (const entry of [...this.#entries.values()]) this.#retire(entry);
  }
}

const pools = new Set<TargetPool>();

/** Closes every shared SDK client (their keep-alive connections): on worker shutdown, and between tests. */
export function closeCloudTargets(): void {
  for (const pool of pools) pool.closeAll();
}

export function createCloudActivities(config: WorkerConfig): CloudActivities {
  const targets = new TargetPool();
  pools.add(targets);
  async function withTarget<T>(target: CeremonyTarget, use: (t: ImportTarget) => Promise<T>): Promise<T> {
    try {
      return await targets.use(configured(config, target), use);
    } catch (err) {
      return asFailure(err);
    }
  }

  return {
    async preflightCloud(input: CloudStepInput): Promise<CloudPreflight> {
      // The request is built (and refused) exactly as prepareImport will: spec, ops, algorithm, config.
      const request = prepareRequest(config, input);
      const abortSignal = cancellationSignal();
      return withTarget(input.target, async (t) => {
        // AWS: read-only checks that would otherwise fail after approvals (the alias taken, the key not importable).
        const notes =
          t instanceof AwsKmsTarget
            ? (await t.preflight(request, abortSignal ? { abortSignal } : {})).notes
            : [];
        return {
          cloud: input.target.cloud,
          location: t.location,
          detail: `${t.cloud} at ${t.location}: ${request.spec.kind} ${request.alias ?? request.keyName}${
            request.wrappingAlgorithm ? ` via ${request.wrappingAlgorithm}` : ''
          }`,
          ...(notes.length > 0 ? { notes } : {}),
        };
      });
    },

    async prepareImport(input): Promise<ImportPreparation> {
      const abortSignal = cancellationSignal();
      const request = prepareRequest(config, input);
      const t = input.target;
      const pinned =
        t.cloud === 'azure' && input.pinnedKek ? /\/keys\/([^/]+)/.exec(input.pinnedKek.id)?.[1] : undefined;
      return withTarget(t, async (target) => {
        if (pinned) return target.prepareImport({ ...request, existingKekName: pinned }, { abortSignal });
        if (t.cloud === 'aws' && request.owner) {
          // CreateKey is not idempotent: checkpoint the key as soon as it exists; a retry looks for it first.
          const known = checkpointedKeyId();
          const owner: KeyOwner = {
            ...request.owner,
            ...(known ? { knownKeyId: known } : {}),
            search: attempt() > 1,
          };
          return target.prepareImport(
            { ...request, owner },
            {
              ...(abortSignal ? { abortSignal } : {}),
              onCreated: async (keyId) => {
                await hangAtCrashPoint('afterCreateKeyUnrecorded', input.ceremonyId, 'prepareImport');
                checkpoint({ awsKeyId: keyId } satisfies PrepareCheckpoint);
                await hangAtCrashPoint('afterCreateKey', input.ceremonyId, 'prepareImport');
              },
            },
          );
        }
        try {
          return await target.prepareImport(request, abortSignal ? { abortSignal } : {});
        } catch (err) {
          // A retry finding the KEK name taken by a key tagged with this ceremony: the first attempt created
          // it and then lost its answer. A key by that name without the tag is someone else's: refused.
          if (
            t.cloud === 'azure' &&
            isCloudError(err) &&
            err.code === 'KEK_NAME_IN_USE' &&
            attempt() > 1 &&
            target instanceof AzureKeyVaultTarget &&
            (await target.ownsKey(
              t.kek.name,
              ceremonyOwner(input.ceremonyId),
              abortSignal ? { abortSignal } : {},
            ))
          ) {
            const prep = await target.prepareImport(
              { ...request, existingKekName: t.kek.name },
              abortSignal ? { abortSignal } : {},
            );
            return {
              ...prep,
              created: [{ kind: 'azure-kek', id: prep.kek.id }],
              notes: [...prep.notes, 'KEK created by an earlier attempt of this activity: adopted'],
            };
          }
          throw err;
        }
      });
    },

    async refreshPreparation(input: CleanupInput): Promise<ImportPreparation> {
      const abortSignal = cancellationSignal();
      return withTarget(input.target, (t) =>
        t.refreshPreparation(input.preparation, abortSignal ? { abortSignal } : {}),
      );
    },

    async importWrappedKey(input: ImportInput): Promise<ImportResult> {
      const abortSignal = cancellationSignal();
      const prep = input.preparation;
      const c = configured(config, input.target);
      const wrapped = Buffer.from(input.wrapped.ciphertext, 'base64url');
      if (c.cloud === 'azure') {
        // Look first: a version tagged with this ceremony means the import already happened.
        const reader = await azureReader(c);
        const earlier = await findCeremonyVersion(reader, prep.keyName, input.ceremonyId, abortSignal).catch(
          asFailure,
        );
        if (earlier) return { imported: importedFromAzure(prep, earlier), alreadyImported: true };
      }
      return withTarget(input.target, async (t) => {
        try {
          const imported = await t.importWrappedKey(prep, wrapped, {
            ...(abortSignal ? { abortSignal } : {}),
            generator: 'byok ceremony worker',
            tags: { [CEREMONY_TAG]: input.ceremonyId },
            ...(input.target.cloud === 'aws' && input.target.expiration.model === 'KEY_MATERIAL_EXPIRES'
              ? { validTo: new Date(input.target.expiration.validTo) }
              : {}),
          });
          return { imported, alreadyImported: false };
        } catch (err) {
          // KMS: the key left PendingImport. Ours (created by this ceremony) or a retry: the import happened.
          const ours = prep.created.some((r) => r.id === prep.keyId) || attempt() > 1;
          if (isCloudError(err) && err.code === 'KEY_ALREADY_HAS_MATERIAL' && ours && prep.keyId) {
            return {
              imported: {
                cloud: prep.cloud,
                location: prep.location,
                keyName: prep.keyName,
                keyId: prep.keyId,
                ...(prep.alias ? { alias: prep.alias } : {}),
                spec: prep.spec,
                keyOps: prep.keyOps,
                notes: [
                  'found: the key already holds material imported by this ceremony; not imported again',
                ],
              },
              alreadyImported: true,
            };
          }
          throw err;
        }
      });
    },

    async verifyImport(input: VerifyInput) {
      const abortSignal = cancellationSignal();
      const imported = input.imported;
      if (
        input.expectedSpkiSha256 &&
        imported.publicKeyFingerprint &&
        imported.publicKeyFingerprint !== input.expectedSpkiSha256
      ) {
        throw ApplicationFailure.nonRetryable(
          `the cloud key's public key ${imported.publicKeyFingerprint} is not the HSM's ${input.expectedSpkiSha256}`,
          'VERIFICATION_FAILED',
        );
      }
      // The HSM's copy is the reference: its public key, or the HSM computing with its secret key.
      return withHsmSession(config, input, async ({ session }) => {
        const found = session.findTargetKey(input.hsm.keyLabel);
        if (!found) {
          throw ApplicationFailure.nonRetryable(
            `the HSM key '${input.hsm.keyLabel}' is gone; nothing to verify against`,
            'CKR_OBJECT_NOT_FOUND',
          );
        }
        const key = session.loadTargetKey(found, toKeySpec(input.key));
        const proof: HsmProof = {
          ...(key.publicKey ? { publicKey: key.publicKey } : {}),
          encryptAesCbc: (iv, plaintext) => session.encryptAes(key, iv, plaintext),
        };
        return withTarget(input.target, (t) =>
          t.verifyImport(imported, proof, abortSignal ? { abortSignal } : {}),
        );
      });
    },

    async cleanupImport(input: CleanupInput): Promise<CloudCleanupReport> {
      const abortSignal = cancellationSignal();
      const deleteKek = input.target.cloud === 'azure' && input.target.kek.deleteAfterImport;
      return withTarget(input.target, (t) =>
        idempotentCleanup(() =>
          t.cleanup(input.preparation, { deleteKek, ...(abortSignal ? { abortSignal } : {}) }),
        ),
      );
    },

    async discardImport(input: DiscardInput): Promise<CloudCleanupReport> {
      // Compensation: runs non-cancellably, so no abort signal; only what this ceremony created goes.
      const prep = input.preparation;
      const target = input.target;
      return withTarget(target, async (t) => {
        if (prep) {
          return idempotentCleanup(() => t.cleanup(prep, { deleteKek: true, deleteCreatedKey: true }));
        }
        // No preparation came back (cancelled or failed while prepareImport ran): find what it created.
        if (t instanceof AwsKmsTarget && target.cloud === 'aws' && !target.keyId) {
          return report(
            await t.discardOwned({
              ...(target.alias ? { alias: target.alias } : {}),
              owner: ceremonyOwner(input.ceremonyId),
            }),
          );
        }
        if (t instanceof AzureKeyVaultTarget && target.cloud === 'azure') {
          // Only a KEK tagged with this ceremony goes: a pinned or foreign key by that name is kept.
          return report(await t.discardOwnedKek(target.kek.name, ceremonyOwner(input.ceremonyId)));
        }
        return {
          deleted: [],
          scheduledForDeletion: [],
          kept: [],
          notes: ['nothing was prepared: nothing to discard'],
        };
      });
    },

    async revokeImport(input: RevokeInput): Promise<CloudCleanupReport> {
      return withTarget(input.target, async (t) => {
        if (t.cloud === 'aws-kms' && 'deleteImportedKeyMaterial' in t) {
          const aws = t as ImportTarget & { deleteImportedKeyMaterial(keyId: string): Promise<void> };
          await aws.deleteImportedKeyMaterial(input.imported.keyId);
          return {
            deleted: [`${input.imported.keyId} (imported material)`],
            scheduledForDeletion: [],
            kept: [],
            notes: ['DeleteImportedKeyMaterial: the key is back to PendingImport'],
          };
        }
        return {
          deleted: [],
          scheduledForDeletion: [],
          kept: [input.imported.keyId],
          notes: [
            'Key Vault cannot remove one version of a key: disable this version by hand if it must not be used',
          ],
        };
      });
    },
  };
}
