export * from './definition.js';
export * from './keys.js';
export * from './signing.js';
export * from './workflow.js';
