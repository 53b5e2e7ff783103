/**
 * @byok/clouds: Azure Key Vault / Managed HSM and AWS KMS behind one ImportTarget interface: prepare the KEK or
 * import parameters, import the wrapped key, verify it against the HSM, clean up.
 */
export {
  AwsKmsTarget,
  type AwsPreflight,
  type AwsTargetExtras,
  type DiscardOwnedRequest,
  type PrepareRotationRequest,
} from './aws.js';
export { AzureKeyVaultTarget, type AzureTargetExtras, publicKeyFromJwk } from './azure.js';
export {
  type AwsCredentialSource,
  type AwsTargetConfig,
  type AzureCredentialSource,
  type AzureTargetConfig,
  parseTargetConfig,
  type TargetConfig,
} from './config.js';
export { StaticTokenCredential } from './credentials.js';
export {
  CLOUD_ERROR_CODES,
  CloudError,
  type CloudErrorCode,
  type CloudName,
  isCloudError,
  isImportTokenExpired,
  toCloudError,
} from './errors.js';
export {
  AWS_KEY_SPECS,
  type AwsKeySpec,
  type AwsKeyUsage,
  awsAlgorithmProblem,
  awsKeySpec,
  awsKeyUsage,
  azureKeyShape,
  checkCloudKeySpec,
  chooseAwsAlgorithm,
  cloudKeySpecFromCore,
  cloudKeySpecOfAws,
  coreKeySpecFromCloud,
  defaultKeyOps,
  describeCloudKeySpec,
} from './keyspec.js';
export { importedPublicKey, isPreparationExpired, preparationKek, wrapInSoftware } from './preparation.js';
export { DEFAULT_RETRY, type RetrySettings } from './retry.js';
export { createImportTarget } from './target.js';
export * from './types.js';
