/**
 * Cloud endpoints and credentials from flags and the environment. Production defaults: DefaultAzureCredential
 * and the AWS default provider chain (env, profile, SSO, IMDS). Emulators and proxies: `--endpoint`,
 * `--ca-file` (an extra CA to trust; certificate checks are never turned off), `AZURE_ACCESS_TOKEN` (a
 * bearer token to use as is, e.g. the emulator's). Secrets are never printed.
 */
import {
  AwsKmsTarget,
  AzureKeyVaultTarget,
  DEFAULT_RETRY,
  parseTargetConfig,
  type RetrySettings,
} from '@byok/clouds';
import { badArgument, type CloudContext, flag, integer, optional, readInput } from './context.js';

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

function caCertPem(ctx: CloudContext): string | undefined {
  const file = optional(ctx, 'ca-file');
  if (file === undefined) return undefined;
  const pem = readInput(ctx, file, 'the CA certificate').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw badArgument(`--ca-file ${file}: not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}

function retry(ctx: CloudContext): RetrySettings {
  const maxAttempts = integer(ctx, 'max-attempts', 1, 10);
  return maxAttempts === undefined ? DEFAULT_RETRY : { ...DEFAULT_RETRY, maxAttempts };
}

function timeoutMs(ctx: CloudContext): number | undefined {
  const seconds = integer(ctx, 'timeout', 1, 600);
  return seconds === undefined ? undefined : seconds * 1000;
}

export function vaultUrl(ctx: CloudContext): string {
  const url = optional(ctx, 'vault') ?? ctx.io.env.AZURE_KEYVAULT_URL;
  if (url === undefined || url === '') {
    throw badArgument(`${ctx.argv.command}: --vault URL is required (or AZURE_KEYVAULT_URL)`);
  }
  return url;
}

export function azureTarget(ctx: CloudContext): AzureKeyVaultTarget {
  const url = vaultUrl(ctx);
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    throw badArgument(`--vault ${JSON.stringify(url)} is not a URL (https://<name>.vault.azure.net)`);
  }
  const token = ctx.io.env.AZURE_ACCESS_TOKEN;
  const managed = flag(ctx, 'managed-hsm');
  const ca = caCertPem(ctx);
  const timeout = timeoutMs(ctx);
  const config = parseTargetConfig({
    cloud: 'azure',
    vaultUrl: url,
    ...(managed ? { managedHsm: true } : {}),
    credential:
      token !== undefined && token !== ''
        ? { kind: 'static-token', token }
        : {
            kind: 'default',
            ...(ctx.io.env.AZURE_TENANT_ID ? { tenantId: ctx.io.env.AZURE_TENANT_ID } : {}),
          },
    ...(ca ? { caCertPem: ca } : {}),
    // An emulator on loopback answers with the real service's challenge resource (vault.azure.net).
    disableChallengeResourceVerification: LOOPBACK.includes(host),
    ...(timeout ? { requestTimeoutMs: timeout } : {}),
    retry: retry(ctx),
  });
  if (config.cloud !== 'azure') throw badArgument('internal: not an Azure config');
  return new AzureKeyVaultTarget(config);
}

export function awsTarget(ctx: CloudContext): AwsKmsTarget {
  const env = ctx.io.env;
  const region = optional(ctx, 'region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region === undefined || region === '') {
    throw badArgument(`${ctx.argv.command}: --region is required (or AWS_REGION)`);
  }
  const endpoint = optional(ctx, 'endpoint') ?? env.AWS_ENDPOINT_URL_KMS ?? env.AWS_ENDPOINT_URL;
  const profile = optional(ctx, 'profile');
  const ca = caCertPem(ctx);
  const timeout = timeoutMs(ctx);
  const config = parseTargetConfig({
    cloud: 'aws',
    region,
    ...(endpoint ? { endpoint } : {}),
    credentials: profile ? { kind: 'default', profile } : { kind: 'default' },
    ...(ca ? { caCertPem: ca } : {}),
    ...(timeout ? { requestTimeoutMs: timeout } : {}),
    retry: retry(ctx),
  });
  if (config.cloud !== 'aws') throw badArgument('internal: not an AWS config');
  return new AwsKmsTarget(config);
}
