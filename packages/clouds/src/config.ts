/**
 * Typed, validated configuration of an import target. Parsed once at the edge (CLI flags, worker config)
 * into these shapes; everything past this file trusts them. Secrets (tokens, secret keys) are never
 * repeated in an error message.
 */
import type { TokenCredential } from '@azure/core-auth';
import { cloudError } from './errors.js';
import { DEFAULT_RETRY, type RetrySettings } from './retry.js';

export type AzureCredentialSource =
  /** Production: @azure/identity's DefaultAzureCredential (env, workload/managed identity, az login...). */
  | { readonly kind: 'default'; readonly tenantId?: string }
  /** Emulators and tests: a fixed bearer token (see StaticTokenCredential). */
  | { readonly kind: 'static-token'; readonly token: string }
  /** Any TokenCredential the caller built (programmatic use only). */
  | { readonly kind: 'credential'; readonly credential: TokenCredential };

export interface AzureTargetConfig {
  readonly cloud: 'azure';
  /** `https://<name>.vault.azure.net` or `https://<name>.managedhsm.azure.net` (or an emulator's https URL). */
  readonly vaultUrl: string;
  /** Managed HSM rules (oct-HSM import, FIPS 140-3 L3); derived from the URL when not given. */
  readonly managedHsm: boolean;
  readonly credential: AzureCredentialSource;
  /**
   * Extra CA certificate (PEM) this client trusts, for an emulator or a TLS-inspecting proxy. It replaces the
   * default CA list for this client only; certificate checks stay on.
   */
  readonly caCertPem?: string;
  /** The emulator's 401 challenge names `vault.azure.net` while the URL is 127.0.0.1. */
  readonly disableChallengeResourceVerification: boolean;
  /** Per-request timeout; a request with no answer by then fails with CLOUD_TIMEOUT. */
  readonly requestTimeoutMs: number;
  readonly retry: RetrySettings;
}

export type AwsCredentialSource =
  /** Production: the SDK's default provider chain (env, SSO, profile, IMDS/ECS...). */
  | { readonly kind: 'default'; readonly profile?: string }
  /** Emulators and tests: fixed keys. */
  | {
      readonly kind: 'static';
      readonly accessKeyId: string;
      readonly secretAccessKey: string;
      readonly sessionToken?: string;
    };

export interface AwsTargetConfig {
  readonly cloud: 'aws';
  readonly region: string;
  /** Endpoint override (emulator, VPC endpoint, FIPS endpoint). */
  readonly endpoint?: string;
  readonly credentials: AwsCredentialSource;
  /** A CA certificate (PEM) to trust for an https endpoint override. */
  readonly caCertPem?: string;
  readonly requestTimeoutMs: number;
  readonly retry: RetrySettings;
}

export type TargetConfig = AzureTargetConfig | AwsTargetConfig;

const DEFAULT_TIMEOUT_MS = 30_000;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

type Input = Readonly<Record<string, unknown>>;

function invalid(what: string): Error {
  return cloudError('CONFIG_INVALID', undefined, `cloud target config: ${what}`);
}

function isRecord(value: unknown): value is Input {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(o: Input, key: string, required: true): string;
function str(o: Input, key: string, required: false): string | undefined;
function str(o: Input, key: string, required: boolean): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw invalid(`'${key}' is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v.trim() === '') throw invalid(`'${key}' must be a non-empty string`);
  return v.trim();
}

function int(o: Input, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`'${key}' must be an integer from ${min} to ${max}`);
  }
  return v;
}

function bool(o: Input, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(`'${key}' must be true or false`);
  return v;
}

function parseRetry(value: unknown): RetrySettings {
  if (value === undefined) return DEFAULT_RETRY;
  if (!isRecord(value)) throw invalid("'retry' must be an object");
  return {
    maxAttempts: int(value, 'maxAttempts', 1, 10) ?? DEFAULT_RETRY.maxAttempts,
    baseDelayMs: int(value, 'baseDelayMs', 0, 60_000) ?? DEFAULT_RETRY.baseDelayMs,
    maxDelayMs: int(value, 'maxDelayMs', 0, 300_000) ?? DEFAULT_RETRY.maxDelayMs,
  };
}

function parsePem(o: Input): string | undefined {
  const pem = str(o, 'caCertPem', false);
  if (pem !== undefined && !pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw invalid("'caCertPem' must be a PEM certificate (-----BEGIN CERTIFICATE-----)");
  }
  return pem;
}

function parseHttpsUrl(text: string, key: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`'${key}' is not a URL`);
  }
  if (url.protocol !== 'https:')
    throw invalid(`'${key}' must be https (Azure sends bearer tokens over TLS only)`);
  return url;
}

function parseAzure(o: Input): AzureTargetConfig {
  const vaultUrlText = str(o, 'vaultUrl', true);
  const url = parseHttpsUrl(vaultUrlText, 'vaultUrl');
  const host = url.hostname.toLowerCase();
  const hostSaysHsm = host.endsWith('.managedhsm.azure.net')
    ? true
    : host.endsWith('.vault.azure.net')
      ? false
      : undefined;
  const given = bool(o, 'managedHsm');
  if (given !== undefined && hostSaysHsm !== undefined && given !== hostSaysHsm) {
    throw invalid(`'managedHsm' is ${given} but ${host} is a ${hostSaysHsm ? 'Managed HSM' : 'Key Vault'}`);
  }
  const credential = parseAzureCredential(o.credential);
  const caCertPem = parsePem(o);
  return {
    cloud: 'azure',
    vaultUrl: `${url.origin}`,
    managedHsm: given ?? hostSaysHsm ?? false,
    credential,
    ...(caCertPem ? { caCertPem } : {}),
    disableChallengeResourceVerification: bool(o, 'disableChallengeResourceVerification') ?? false,
    requestTimeoutMs: int(o, 'requestTimeoutMs', 100, 600_000) ?? DEFAULT_TIMEOUT_MS,
    retry: parseRetry(o.retry),
  };
}

function parseAzureCredential(value: unknown): AzureCredentialSource {
  if (value === undefined) return { kind: 'default' };
  if (!isRecord(value)) throw invalid("'credential' must be an object");
  const kind = value.kind;
  if (kind === 'default') {
    const tenantId = str(value, 'tenantId', false);
    return tenantId ? { kind, tenantId } : { kind };
  }
  if (kind === 'static-token') return { kind, token: str(value, 'token', true) };
  if (kind === 'credential') {
    const credential = value.credential;
    if (!isRecord(credential) || typeof credential.getToken !== 'function') {
      throw invalid("'credential.credential' must be a TokenCredential (an object with getToken)");
    }
    return { kind, credential: credential as unknown as TokenCredential };
  }
  throw invalid("'credential.kind' must be 'default', 'static-token' or 'credential'");
}

function parseAws(o: Input): AwsTargetConfig {
  const region = str(o, 'region', true);
  if (!REGION.test(region))
    throw invalid(`'region' ${JSON.stringify(region)} is not an AWS region (e.g. eu-west-1)`);
  const endpointText = str(o, 'endpoint', false);
  let endpoint: string | undefined;
  if (endpointText !== undefined) {
    let url: URL;
    try {
      url = new URL(endpointText);
    } catch {
      throw invalid("'endpoint' is not a URL");
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid("'endpoint' must be http(s)");
    if (url.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      throw invalid("'endpoint' may use plain http only on loopback (an emulator); use https");
    }
    endpoint = url.origin;
  }
  const caCertPem = parsePem(o);
  return {
    cloud: 'aws',
    region,
    ...(endpoint ? { endpoint } : {}),
    credentials: parseAwsCredentials(o.credentials),
    ...(caCertPem ? { caCertPem } : {}),
    requestTimeoutMs: int(o, 'requestTimeoutMs', 100, 600_000) ?? DEFAULT_TIMEOUT_MS,
    retry: parseRetry(o.retry),
  };
}

function parseAwsCredentials(value: unknown): AwsCredentialSource {
  if (value === undefined) return { kind: 'default' };
  if (!isRecord(value)) throw invalid("'credentials' must be an object");
  if (value.kind === 'default') {
    const profile = str(value, 'profile', false);
    return profile ? { kind: 'default', profile } : { kind: 'default' };
  }
  if (value.kind === 'static') {
    const sessionToken = str(value, 'sessionToken', false);
    return {
      kind: 'static',
      accessKeyId: str(value, 'accessKeyId', true),
      secretAccessKey: str(value, 'secretAccessKey', true),
      ...(sessionToken ? { sessionToken } : {}),
    };
  }
  throw invalid("'credentials.kind' must be 'default' or 'static'");
}

/** Validates a target config that arrived as data; unknown `cloud` values are refused. */
export function parseTargetConfig(value: unknown): TargetConfig {
  if (!isRecord(value)) throw invalid('must be an object');
  if (value.cloud === 'azure') return parseAzure(value);
  if (value.cloud === 'aws') return parseAws(value);
  throw invalid("'cloud' must be 'azure' or 'aws'");
}
