export {
  CEREMONY_SEARCH_ATTRIBUTES,
  type DevServer,
  DevServerError,
  type DevServerOptions,
  ensureSearchAttributes,
  findTemporalBinary,
  freePort,
  listSearchAttributes,
  type SearchAttributeType,
  startDevServer,
  TemporalNotInstalledError,
  temporalInstalled,
} from './dev-server.js';
