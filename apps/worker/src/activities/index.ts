import type { WorkerConfig } from '../config.js';
import { createUnconfiguredCloudActivities } from './cloud.js';
import { createEvidenceActivities } from './evidence.js';
import { createHsmActivities } from './hsm.js';
import type { CeremonyActivities } from './types.js';

export { createUnconfiguredCloudActivities } from './cloud.js';
export { createEvidenceActivities } from './evidence.js';
export { createHsmActivities, toKeySpec } from './hsm.js';
export * from './types.js';

/** Every activity the ceremony workflow calls; `overrides` replaces some (tests, or clouds once it lands). */
export function createCeremonyActivities(
  config: WorkerConfig,
  overrides: Partial<CeremonyActivities> = {},
): CeremonyActivities {
  return {
    ...createHsmActivities(config),
    ...createUnconfiguredCloudActivities(),
    ...createEvidenceActivities(config),
    ...overrides,
  };
}
