/**
 * Cloud activities: the contracts are final (types.ts), the implementations arrive with @byok/clouds
 * (Azure Key Vault / Managed HSM and AWS KMS behind one interface). Until then every cloud step fails,
 * non-retryably, with CLOUD_NOT_CONFIGURED, so a ceremony runs through preflight and its approvals and
 * then stops cleanly, compensating what it did.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { CloudActivities } from './types.js';

function notConfigured(step: string): never {
  throw ApplicationFailure.nonRetryable(
    `not configured: ${step} needs @byok/clouds, which this worker does not have yet`,
    'CLOUD_NOT_CONFIGURED',
  );
}

export function createUnconfiguredCloudActivities(): CloudActivities {
  return {
    preflightCloud: async () => notConfigured('preflightCloud'),
    prepareImport: async () => notConfigured('prepareImport'),
    importWrappedKey: async () => notConfigured('importWrappedKey'),
    verifyImport: async () => notConfigured('verifyImport'),
    cleanupImport: async () => notConfigured('cleanupImport'),
    discardImport: async () => notConfigured('discardImport'),
    revokeImport: async () => notConfigured('revokeImport'),
  };
}
