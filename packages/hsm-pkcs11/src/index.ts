/**
 * @byok/hsm-pkcs11: the PKCS#11 side of a BYOK ceremony. Load a module, find the token by label, log in,
 * find or generate the target key, plan and check the wrap, import the KEK, wrap.
 */
export { CKA, CKK, CKM, CKM_HMAC, CKO, mechanismName } from './constants.js';
export { ckrOf, toByokError } from './errors.js';
export { LUNA_POLICY, LUNA_POLICY_NAMES, LunaExtensions } from './luna.js';
export { MechanismList, type ModuleInfo, Pkcs11Module } from './module.js';
export { assertPolicies, checkWrapPolicies, type PolicyContext } from './policy.js';
export { HsmSession, MIN_PIN_LENGTH } from './session.js';
export type {
  FoundKey,
  KekHandle,
  MechanismInfo,
  PolicyVerdict,
  TargetKey,
  TokenInfo,
  VerdictStatus,
  WrapPlan,
} from './types.js';
export { planMechanisms, planWrap } from './wrap.js';
