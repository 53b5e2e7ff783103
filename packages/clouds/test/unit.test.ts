/** Pure parts: error mapping by type/status (never by message), config validation, algorithm choice. */
import { findCurve } from '@byok/core';
import { describe, expect, it } from 'vitest';
import {
  awsAlgorithmProblem,
  CloudError,
  chooseAwsAlgorithm,
  cloudKeySpecFromCore,
  coreKeySpecFromCloud,
  isPreparationExpired,
  parseTargetConfig,
  StaticTokenCredential,
  toCloudError,
} from '../src/index.js';

function restError(
  statusCode: number | undefined,
  code: string | undefined,
  message: string,
  inner?: string,
): Error {
  const err = Object.assign(new Error(message), {
    statusCode,
    code,
    details: inner ? { error: { innererror: { code: inner } } } : undefined,
  });
  err.name = 'RestError';
  return err;
}

function awsError(name: string, message: string, status = 400): Error {
  const err = Object.assign(new Error(message), { $fault: 'client', $metadata: { httpStatusCode: status } });
  err.name = name;
  return err;
}

describe('toCloudError', () => {
  const azure = { cloud: 'Azure Key Vault', operation: 'importKey', subject: 'k' } as const;
  const aws = { cloud: 'AWS KMS', operation: 'ImportKeyMaterial', subject: 'arn' } as const;

  it('maps Azure by status and code, whatever the message says', () => {
    // Messages name other conditions on purpose: only status/code may decide.
    expect(toCloudError(restError(429, 'Throttled', 'Forbidden'), azure).code).toBe('CLOUD_THROTTLED');
    expect(toCloudError(restError(403, 'Forbidden', 'throttled'), azure).code).toBe(
      'CLOUD_PERMISSION_DENIED',
    );
    expect(toCloudError(restError(403, 'Forbidden', 'x', 'KeyOperationForbidden'), azure).code).toBe(
      'KEY_OPERATION_FORBIDDEN',
    );
    expect(toCloudError(restError(400, 'BadParameter', 'x'), { ...azure, phase: 'import' }).code).toBe(
      'BLOB_REJECTED',
    );
    expect(toCloudError(restError(400, 'BadParameter', 'x'), azure).code).toBe('CLOUD_BAD_REQUEST');
    expect(toCloudError(restError(503, 'x', 'y'), azure).code).toBe('CLOUD_UNAVAILABLE');
    expect(toCloudError(restError(409, 'Conflict', 'y', 'ObjectIsDeletedButRecoverable'), azure).code).toBe(
      'KEY_NAME_DELETED',
    );
    expect(toCloudError(restError(401, 'Unauthorized', 'y'), azure).code).toBe('CLOUD_AUTH_FAILED');
  });

  it('maps AWS by exception name and status', () => {
    expect(toCloudError(awsError('ExpiredImportTokenException', 'throttled'), aws).code).toBe(
      'IMPORT_TOKEN_EXPIRED',
    );
    expect(toCloudError(awsError('AccessDeniedException', 'expired'), aws).code).toBe(
      'CLOUD_PERMISSION_DENIED',
    );
    expect(toCloudError(awsError('SomethingNewException', 'x', 429), aws).code).toBe('CLOUD_THROTTLED');
    expect(toCloudError(awsError('SomethingNewException', 'x', 503), aws).code).toBe('CLOUD_UNAVAILABLE');
    expect(toCloudError(awsError('ValidationException', 'x'), { ...aws, phase: 'parameters' }).code).toBe(
      'UNSUPPORTED_WRAPPING_ALGORITHM',
    );
  });

  it("tells the caller's cancellation from a timeout", () => {
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    const controller = new AbortController();
    expect(toCloudError(abort, { ...azure, abortSignal: controller.signal }).code).toBe('CLOUD_TIMEOUT');
    controller.abort();
    expect(toCloudError(abort, { ...azure, abortSignal: controller.signal }).code).toBe('CANCELLED');
  });

  it('is one line with the service message, and says which errors are retryable', () => {
    const err = toCloudError(restError(500, 'InternalServerError', 'line one\nline two'), azure);
    expect(err).toBeInstanceOf(CloudError);
    expect(err.message).toBe(
      'Azure Key Vault importKey k failed: the service failed; check the key state, then retry ' +
        '(500 InternalServerError: line one line two)',
    );
    expect(err.retryable).toBe(true);
    expect(toCloudError(awsError('InvalidCiphertextException', 'x'), aws).retryable).toBe(false);
    expect(err.describe()).toContain('CKR_FUNCTION_FAILED');
  });
});

describe('parseTargetConfig', () => {
  it('derives managedHsm from the host and refuses contradictions', () => {
    const hsm = parseTargetConfig({ cloud: 'azure', vaultUrl: 'https://contoso.managedhsm.azure.net/' });
    expect(hsm).toMatchObject({
      cloud: 'azure',
      managedHsm: true,
      vaultUrl: 'https://contoso.managedhsm.azure.net',
    });
    expect(() =>
      parseTargetConfig({ cloud: 'azure', vaultUrl: 'https://contoso.vault.azure.net', managedHsm: true }),
    ).toThrow(/managedHsm/);
    expect(() => parseTargetConfig({ cloud: 'azure', vaultUrl: 'http://contoso.vault.azure.net' })).toThrow(
      /https/,
    );
  });

  it('validates AWS regions, endpoints and credentials without echoing secrets', () => {
    expect(() => parseTargetConfig({ cloud: 'aws', region: 'mars' })).toThrow(/region/);
    expect(() =>
      parseTargetConfig({ cloud: 'aws', region: 'eu-west-1', endpoint: 'http://kms.example.com' }),
    ).toThrow(/loopback/);
    try {
      parseTargetConfig({
        cloud: 'aws',
        region: 'eu-west-1',
        credentials: { kind: 'static', accessKeyId: 'A', secretAccessKey: 7 },
      });
      throw new Error('accepted');
    } catch (err) {
      expect((err as CloudError).code).toBe('CONFIG_INVALID');
    }
    const cfg = parseTargetConfig({ cloud: 'aws', region: 'eu-west-1' });
    expect(cfg).toMatchObject({ credentials: { kind: 'default' }, requestTimeoutMs: 30_000 });
  });

  it('StaticTokenCredential hands out its token and never prints it', async () => {
    const cred = new StaticTokenCredential('s3cr3t');
    expect((await cred.getToken('https://vault.azure.net/.default')).token).toBe('s3cr3t');
    expect(JSON.stringify({ cred })).not.toContain('s3cr3t');
  });
});

describe('wrapping algorithm choice (AWS)', () => {
  it('prefers SHA-256 and falls back to SHA-1 with a note', () => {
    expect(chooseAwsAlgorithm({ kind: 'rsa', bits: 2048 }, ['sha1', 'sha256'], undefined, 2048)).toEqual({
      algorithm: 'RSA_AES_KEY_WRAP_SHA_256',
      notes: [],
    });
    const sha1 = chooseAwsAlgorithm({ kind: 'hmac', bits: 256 }, ['sha1'], undefined, 2048);
    expect(sha1.algorithm).toBe('RSAES_OAEP_SHA_1');
    expect(sha1.notes).toHaveLength(1);
  });

  it('knows which algorithms each spec allows', () => {
    expect(awsAlgorithmProblem({ kind: 'rsa', bits: 4096 }, 'RSAES_OAEP_SHA_1', 4096)).toContain(
      'RSA private key',
    );
    expect(awsAlgorithmProblem({ kind: 'aes', bits: 256 }, 'RSA_AES_KEY_WRAP_SHA_1', 2048)).toContain(
      'RSAES_OAEP',
    );
    expect(awsAlgorithmProblem({ kind: 'ec', curve: 'P-521' }, 'RSAES_OAEP_SHA_1', 2048)).toContain(
      'RSA_2048',
    );
    expect(awsAlgorithmProblem({ kind: 'ec', curve: 'P-521' }, 'RSAES_OAEP_SHA_1', 3072)).toBeUndefined();
    expect(
      awsAlgorithmProblem({ kind: 'ec', curve: 'P-256' }, 'RSA_AES_KEY_WRAP_SHA_256', 2048),
    ).toBeUndefined();
  });

  it('converts core specs and refuses sizes no cloud takes', () => {
    const curve = findCurve('P-384');
    if (!curve) throw new Error('no curve');
    expect(cloudKeySpecFromCore({ kind: 'ec', bits: 384, curve })).toEqual({ kind: 'ec', curve: 'P-384' });
    expect(() => cloudKeySpecFromCore({ kind: 'rsa', bits: 1024 })).toThrow(/1024/);
    expect(cloudKeySpecFromCore({ kind: 'hmac', bits: 384 })).toEqual({ kind: 'hmac', bits: 384 });
    expect(coreKeySpecFromCloud({ kind: 'hmac', bits: 224 })).toEqual({ kind: 'hmac', bits: 224 });
    expect(coreKeySpecFromCloud({ kind: 'ec', curve: 'P-384' })).toEqual({ kind: 'ec', bits: 384, curve });
  });

  it('isPreparationExpired honours the margin', () => {
    const prep = { expiresAt: '2030-01-01T00:00:00.000Z' } as Parameters<typeof isPreparationExpired>[0];
    expect(isPreparationExpired(prep, new Date('2029-12-31T23:59:00Z'))).toBe(false);
    expect(isPreparationExpired(prep, new Date('2029-12-31T23:59:00Z'), 120_000)).toBe(true);
    expect(isPreparationExpired(prep, new Date('2030-01-01T00:00:00Z'))).toBe(true);
  });
});
