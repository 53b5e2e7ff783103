export { generateKekPair, type KekPair, writeKekPem } from './kek.js';
export { ProofError, type ProveOptions, proveByokFile, proveWrappedKey } from './prove.js';
export { type PtyAnswer, type PtyResult, PtyTimeoutError, type RunInPtyOptions, runInPty } from './pty.js';
export {
  buildLunaShim,
  CKM_RSA_AES_KEY_WRAP,
  DEFAULT_LUNA_POLICIES,
  LUNA_CKM_AES_KWP,
  LunaPolicy,
  lunaShimEnv,
  writeLunaPolicies,
} from './shim.js';
export {
  createSoftHsm,
  DEFAULT_SO_PIN,
  DEFAULT_USER_PIN,
  SOFTHSM_LIBRARY,
  type SoftHsm,
  type SoftHsmToken,
} from './softhsm.js';
export {
  analyseSpyLog,
  SENSITIVE_ATTRIBUTES,
  type SensitiveRead,
  type SpyAnalysis,
  type SpyCall,
  spyEnv,
  spyLibraryPath,
} from './spy.js';
export { MissingToolError, requireTool } from './tools.js';
