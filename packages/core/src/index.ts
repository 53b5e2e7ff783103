export * from './byok-blob.js';
export * from './config.js';
export * from './errors.js';
export * from './kek.js';
export * from './keyspec.js';
export * from './material.js';
export * from './types.js';
export * from './wrap.js';
