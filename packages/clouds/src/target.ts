/** One entry point for the CLI and the worker: a validated config in, the matching ImportTarget out. */
import { AwsKmsTarget } from './aws.js';
import { AzureKeyVaultTarget } from './azure.js';
import { parseTargetConfig, type TargetConfig } from './config.js';
import type { ImportTarget } from './types.js';

/** Accepts a parsed TargetConfig or raw data (validated with parseTargetConfig). */
export function createImportTarget(config: TargetConfig | unknown): ImportTarget {
  const parsed = parseTargetConfig(config);
  return parsed.cloud === 'azure' ? new AzureKeyVaultTarget(parsed) : new AwsKmsTarget(parsed);
}
