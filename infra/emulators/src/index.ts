/** Local, protocol-faithful emulators of Azure Key Vault / Managed HSM and AWS KMS, with real BYOK import. */

export type { VaultMode } from './keyvault/model.js';
export {
  EMULATOR_TENANT,
  EMULATOR_TOKEN,
  emulatorCredential,
  type KeyVaultEmulator,
  type KeyVaultEmulatorOptions,
  startKeyVaultEmulator,
} from './keyvault/server.js';
export {
  EMULATOR_AWS_CREDENTIALS,
  type KmsEmulator,
  type KmsEmulatorOptions,
  startKmsEmulator,
} from './kms/server.js';
export type { AwsCredentials } from './kms/sigv4.js';
export { type LocalKms, localKmsBinary, localKmsInstallScript, startLocalKms } from './local-kms.js';
export type { Clock } from './shared/clock.js';
export type { Fault, FaultKind, Faults, InjectOptions } from './shared/faults.js';
