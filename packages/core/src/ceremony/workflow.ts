/**
 * The sandbox-safe part of the ceremony domain: what Temporal workflow code may import. No node:crypto, no
 * Buffer, no YAML (the definition is parsed and validated before the workflow starts; the workflow gets the
 * validated JSON). Same split as the Temporal SDK's internal-workflow / internal-non-workflow.
 */
export * from './approval.js';
export * from './audit.js';
export * from './canonical.js';
export * from './digest.js';
export * from './types.js';
