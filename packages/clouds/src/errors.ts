/**
 * Every failure from either cloud becomes ONE line with a stable code, mapped here and nowhere else: by the
 * AWS SDK's typed exception name and HTTP status, by Azure's RestError statusCode + code, never by message
 * text. The service's own message is appended (one line, trimmed) because it often says what to fix; neither
 * service echoes key material into messages, and we never put any in ours.
 */
import { ByokError } from '@byok/core';
import type { CreatedResource } from './types.js';

export const CLOUD_ERROR_CODES = [
  'CLOUD_PERMISSION_DENIED',
  'CLOUD_AUTH_FAILED',
  'CLOUD_THROTTLED',
  'CLOUD_UNAVAILABLE',
  'CLOUD_TIMEOUT',
  'CLOUD_BAD_REQUEST',
  'CLOUD_QUOTA_EXCEEDED',
  'CANCELLED',
  'CONFIG_INVALID',
  'REQUEST_INVALID',
  'KEK_INVALID_OPS',
  'KEK_WRONG_TYPE',
  'KEK_NAME_IN_USE',
  'KEK_DISABLED',
  'ALIAS_IN_USE',
  'KEY_NOT_FOUND',
  'KEY_NAME_DELETED',
  'KEY_NOT_EXTERNAL',
  'KEY_SPEC_MISMATCH',
  'KEY_INVALID_STATE',
  'KEY_ALREADY_HAS_MATERIAL',
  'KEY_OPERATION_FORBIDDEN',
  'KEY_MATERIAL_MISMATCH',
  'IMPORT_TOKEN_EXPIRED',
  'IMPORT_TOKEN_INVALID',
  'UNSUPPORTED_KEY_SPEC',
  'UNSUPPORTED_WRAPPING_ALGORITHM',
  'OAEP_HASH_UNSUPPORTED',
  'BLOB_REJECTED',
  'PREPARATION_MISMATCH',
  'VERIFICATION_FAILED',
  'VERIFY_PROOF_MISSING',
  'CLOUD_ERROR',
] as const;

export type CloudErrorCode = (typeof CLOUD_ERROR_CODES)[number];

export type CloudName = 'Azure Key Vault' | 'Azure Managed HSM' | 'AWS KMS';

/** Codes after which trying the same call again, unchanged, may succeed. */
const RETRYABLE: ReadonlySet<CloudErrorCode> = new Set([
  'CLOUD_THROTTLED',
  'CLOUD_UNAVAILABLE',
  'CLOUD_TIMEOUT',
]);

/**
 * A ByokError from a cloud call. `retryable` is what a Temporal activity should use to pick
 * `ApplicationFailure.nonRetryable`; `created` names resources a failed step left behind.
 */
export class CloudError extends ByokError {
  declare readonly code: CloudErrorCode;
  readonly cloud: CloudName | undefined;
  readonly operation: string | undefined;
  readonly retryable: boolean;
  readonly created: readonly CreatedResource[];

  constructor(
    code: CloudErrorCode,
    message: string,
    opts: {
      cloud?: CloudName;
      operation?: string;
      cause?: unknown;
      created?: readonly CreatedResource[];
    } = {},
  ) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.cloud = opts.cloud;
    this.operation = opts.operation;
    this.retryable = RETRYABLE.has(code);
    this.created = opts.created ?? [];
  }

  /** The same error with a sentence appended (what to look for after an ambiguous failure). */
  amend(tail: string): CloudError {
    return new CloudError(this.code, `${this.message}${tail}`, {
      ...(this.cloud ? { cloud: this.cloud } : {}),
      ...(this.operation ? { operation: this.operation } : {}),
      cause: this,
      created: this.created,
    });
  }

  /** The same error with the resources a failed step left behind named in its message. */
  withCreated(created: readonly CreatedResource[], cleanedUp: boolean): CloudError {
    if (created.length === 0) return this;
    const ids = created.map((r) => r.id).join(', ');
    const tail = cleanedUp
      ? `; created ${ids} was cleaned up`
      : `; created ${ids} was left in place (delete it or reuse it)`;
    return new CloudError(this.code, `${this.message}${tail}`, {
      ...(this.cloud ? { cloud: this.cloud } : {}),
      ...(this.operation ? { operation: this.operation } : {}),
      cause: this,
      created: cleanedUp ? [] : created,
    });
  }
}

export function isCloudError(value: unknown, code?: CloudErrorCode): value is CloudError {
  return value instanceof CloudError && (code === undefined || value.code === code);
}

/** The typed check the brief asks for: the caller must fetch new parameters and wrap again. */
export function isImportTokenExpired(value: unknown): value is CloudError {
  return isCloudError(value, 'IMPORT_TOKEN_EXPIRED');
}

export interface ErrorContext {
  readonly cloud: CloudName;
  /** The SDK call (`importKey`, `ImportKeyMaterial`), shown in the message. */
  readonly operation: string;
  /** What it was about (a key name / id), shown in the message. */
  readonly subject?: string;
  /** The caller's signal: an abort it caused is CANCELLED, any other abort is our timeout. */
  readonly abortSignal?: AbortSignal;
  /** `import`: a 400 / InvalidCiphertext here means the blob was refused (BLOB_REJECTED). */
  readonly phase?: 'import' | 'parameters';
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? Reflect.get(value, key) : undefined;
}

function stringField(value: unknown, key: string): string | undefined {
  const v = field(value, key);
  return typeof v === 'string' ? v : undefined;
}

function numberField(value: unknown, key: string): number | undefined {
  const v = field(value, key);
  return typeof v === 'number' ? v : undefined;
}

/** One line, bounded: service messages can be long or multi-line. */
function oneLine(text: string | undefined): string {
  if (!text) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}

/** Azure's RestError, structurally (the SDK's `isRestError` guard is the same test). */
export function isRestErrorLike(err: unknown): err is Error & { statusCode?: number; code?: string } {
  return err instanceof Error && err.name === 'RestError';
}

/** AWS SDK v3 ServiceException, structurally: `$fault` and `$metadata` are on every modelled exception. */
export function isAwsServiceError(err: unknown): err is Error & { $fault: string; $metadata: object } {
  return err instanceof Error && field(err, '$fault') !== undefined && field(err, '$metadata') !== undefined;
}

const SYSTEM_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
]);
const SYSTEM_TIMEOUT = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);
const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface Mapped {
  code: CloudErrorCode;
  advice: string;
}

function fromAzure(err: Error & { statusCode?: number; code?: string }, ctx: ErrorContext): Mapped {
  const status = err.statusCode;
  const code = err.code;
  const inner = stringField(field(field(field(err, 'details'), 'error'), 'innererror'), 'code');
  if (status === undefined) return fromTransport(err, ctx);
  if (status === 401) return { code: 'CLOUD_AUTH_FAILED', advice: 'check the credential and tenant' };
  if (status === 403) {
    if (inner === 'KeyOperationForbidden' || inner === 'KeyDisabled') {
      return { code: 'KEY_OPERATION_FORBIDDEN', advice: 'the key does not allow this operation' };
    }
    return {
      code: 'CLOUD_PERMISSION_DENIED',
      advice: 'grant the identity the key permissions (RBAC "Key Vault Crypto Officer" or an access policy)',
    };
  }
  if (status === 404) return { code: 'KEY_NOT_FOUND', advice: 'check the name and the vault URL' };
  if (status === 409 && (inner === 'ObjectIsDeletedButRecoverable' || code === 'Conflict')) {
    return {
      code: 'KEY_NAME_DELETED',
      advice: 'a deleted key holds this name: recover or purge it, or choose another name',
    };
  }
  if (status === 429)
    return { code: 'CLOUD_THROTTLED', advice: 'the vault is throttling requests; try again later' };
  if (status === 408)
    return { code: 'CLOUD_TIMEOUT', advice: 'the service timed out; check the key state, then retry' };
  if (status >= 500)
    return { code: 'CLOUD_UNAVAILABLE', advice: 'the service failed; check the key state, then retry' };
  if (status === 400 && ctx.phase === 'import') {
    return {
      code: 'BLOB_REJECTED',
      advice: 'the vault refused the wrapped key: wrap it again under this KEK with OAEP SHA-1',
    };
  }
  return { code: 'CLOUD_BAD_REQUEST', advice: 'the request was refused as invalid' };
}

const AWS_CODES: Readonly<Record<string, Mapped>> = {
  AccessDeniedException: {
    code: 'CLOUD_PERMISSION_DENIED',
    advice: 'allow the caller this kms: action in the key policy / IAM policy',
  },
  UnrecognizedClientException: { code: 'CLOUD_AUTH_FAILED', advice: 'the access key is not known to KMS' },
  InvalidSignatureException: { code: 'CLOUD_AUTH_FAILED', advice: 'the secret key or the clock is wrong' },
  IncompleteSignature: { code: 'CLOUD_AUTH_FAILED', advice: 'the request signature is incomplete' },
  MissingAuthenticationToken: { code: 'CLOUD_AUTH_FAILED', advice: 'no credentials were sent' },
  ExpiredTokenException: {
    code: 'CLOUD_AUTH_FAILED',
    advice: 'the session credentials expired: refresh them',
  },
  CredentialsProviderError: {
    code: 'CLOUD_AUTH_FAILED',
    advice: 'no AWS credentials found in the default chain',
  },
  ThrottlingException: { code: 'CLOUD_THROTTLED', advice: 'KMS is throttling requests; try again later' },
  LimitExceededException: { code: 'CLOUD_QUOTA_EXCEEDED', advice: 'a KMS quota is exhausted' },
  KMSInternalException: { code: 'CLOUD_UNAVAILABLE', advice: 'KMS failed; check the key state, then retry' },
  InternalFailure: { code: 'CLOUD_UNAVAILABLE', advice: 'KMS failed; check the key state, then retry' },
  ServiceUnavailable: { code: 'CLOUD_UNAVAILABLE', advice: 'KMS is unavailable; retry later' },
  DependencyTimeoutException: {
    code: 'CLOUD_TIMEOUT',
    advice: 'KMS timed out; check the key state, then retry',
  },
  TimeoutError: { code: 'CLOUD_TIMEOUT', advice: 'no answer in time; check the key state, then retry' },
  NotFoundException: { code: 'KEY_NOT_FOUND', advice: 'check the key id and the region' },
  KMSInvalidStateException: {
    code: 'KEY_INVALID_STATE',
    advice: 'the key is not in a state for this operation',
  },
  DisabledException: { code: 'KEY_INVALID_STATE', advice: 'the key is disabled' },
  ExpiredImportTokenException: {
    code: 'IMPORT_TOKEN_EXPIRED',
    advice: 'get new import parameters (refreshPreparation) and wrap the key again',
  },
  InvalidImportTokenException: {
    code: 'IMPORT_TOKEN_INVALID',
    advice: 'use the import token from the same GetParametersForImport as the wrapping key',
  },
  IncorrectKeyMaterialException: {
    code: 'KEY_MATERIAL_MISMATCH',
    advice: 'this KMS key holds (or held) other key material; reimport the same material or use a new key',
  },
  InvalidCiphertextException: {
    code: 'BLOB_REJECTED',
    advice:
      "KMS could not unwrap the key material: wrap it again with the preparation's public key and algorithm",
  },
  UnsupportedOperationException: {
    code: 'UNSUPPORTED_KEY_SPEC',
    advice: 'KMS does not support this for the key',
  },
  InvalidKeyUsageException: {
    code: 'KEY_OPERATION_FORBIDDEN',
    advice: 'the key usage does not allow this operation',
  },
  KMSInvalidSignatureException: { code: 'VERIFICATION_FAILED', advice: 'the signature did not verify' },
  KMSInvalidMacException: { code: 'VERIFICATION_FAILED', advice: 'the MAC did not verify' },
  ValidationException: { code: 'CLOUD_BAD_REQUEST', advice: 'KMS refused the request as invalid' },
  AlreadyExistsException: {
    code: 'ALIAS_IN_USE',
    advice: 'the alias already exists: choose another alias, or delete the alias if it is no longer used',
  },
  InvalidAliasNameException: {
    code: 'REQUEST_INVALID',
    advice: 'alias names are alias/<letters, digits, /_-:> and alias/aws/ is reserved',
  },
  TagException: { code: 'REQUEST_INVALID', advice: 'KMS refused a tag (key 1-128 chars, not aws:)' },
};

function fromAws(err: Error, ctx: ErrorContext): Mapped {
  const mapped = AWS_CODES[err.name];
  if (mapped) {
    if (mapped.code === 'CLOUD_BAD_REQUEST' && ctx.phase === 'parameters') {
      return {
        code: 'UNSUPPORTED_WRAPPING_ALGORITHM',
        advice: 'KMS refused this wrapping algorithm / key spec pair',
      };
    }
    return mapped;
  }
  const status = numberField(field(err, '$metadata'), 'httpStatusCode');
  if (status === 429) return AWS_CODES.ThrottlingException as Mapped;
  if (status !== undefined && status >= 500) return AWS_CODES.KMSInternalException as Mapped;
  if (status === 401 || status === 403) return AWS_CODES.AccessDeniedException as Mapped;
  if (isAwsServiceError(err)) return { code: 'CLOUD_ERROR', advice: `KMS answered ${err.name}` };
  return fromTransport(err, ctx);
}

/** No HTTP answer: aborts, timeouts, sockets, TLS. */
function fromTransport(err: Error, ctx: ErrorContext): Mapped {
  if (err.name === 'AbortError') {
    if (ctx.abortSignal?.aborted) return { code: 'CANCELLED', advice: 'the caller cancelled the operation' };
    return { code: 'CLOUD_TIMEOUT', advice: 'no answer in time; check the key state, then retry' };
  }
  if (err.name === 'TimeoutError') return AWS_CODES.TimeoutError as Mapped;
  if (err.name === 'CredentialUnavailableError' || err.name === 'AuthenticationError') {
    return {
      code: 'CLOUD_AUTH_FAILED',
      advice: 'no Azure credential could get a token (az login, managed identity, env)',
    };
  }
  if (err.name === 'CredentialsProviderError') return AWS_CODES.CredentialsProviderError as Mapped;
  const sys = stringField(err, 'code') ?? stringField(field(err, 'cause'), 'code');
  if (sys && SYSTEM_TIMEOUT.has(sys)) return { code: 'CLOUD_TIMEOUT', advice: `network timeout (${sys})` };
  if (sys && SYSTEM_UNAVAILABLE.has(sys))
    return { code: 'CLOUD_UNAVAILABLE', advice: `cannot reach the service (${sys})` };
  if (sys && TLS_CODES.has(sys)) {
    return {
      code: 'CLOUD_UNAVAILABLE',
      advice: `the server certificate is not trusted (${sys}): configure the CA, never disable verification`,
    };
  }
  return { code: 'CLOUD_ERROR', advice: 'unexpected failure' };
}

/**
 * Turns anything a cloud SDK throws into a CloudError. A CloudError passes through unchanged; programming
 * errors (TypeError etc. from our own code) are wrapped as CLOUD_ERROR so callers still get one line.
 */
export function toCloudError(err: unknown, ctx: ErrorContext): CloudError {
  if (err instanceof CloudError) return err;
  const error = err instanceof Error ? err : new Error(String(err));
  const isAzure = ctx.cloud !== 'AWS KMS';
  const mapped =
    isAzure && isRestErrorLike(error)
      ? fromAzure(error, ctx)
      : isAzure
        ? fromTransport(error, ctx)
        : fromAws(error, ctx);
  const subject = ctx.subject ? ` ${ctx.subject}` : '';
  const service = isRestErrorLike(error) || isAwsServiceError(error) ? oneLine(error.message) : '';
  const said = service ? ` (${serviceLabel(error)}: ${service})` : '';
  return new CloudError(
    mapped.code,
    `${ctx.cloud} ${ctx.operation}${subject} failed: ${mapped.advice}${said}`,
    {
      cloud: ctx.cloud,
      operation: ctx.operation,
      cause: err,
    },
  );
}

function serviceLabel(err: Error): string {
  if (isRestErrorLike(err)) return [err.statusCode, err.code].filter((x) => x !== undefined).join(' ');
  return err.name;
}

/** A failure we detect ourselves, before or after a call. */
export function cloudError(
  code: CloudErrorCode,
  cloud: CloudName | undefined,
  message: string,
  created?: readonly CreatedResource[],
): CloudError {
  return new CloudError(code, cloud ? `${cloud}: ${message}` : message, {
    ...(cloud ? { cloud } : {}),
    ...(created ? { created } : {}),
  });
}
