/**
 * The one place where PKCS#11 failures become ByokErrors. Pkcs11Error carries the numeric CKR in `code`
 * and the function in `method`; we map by number only (message texts differ between pkcs11js versions),
 * and we never put arguments (PINs, key bytes) in a message: only the function name and a sentence.
 */
import { ByokError, ckrName, isByokError } from '@byok/core';

/** What a custodian should read for the CKRs they actually meet; the CKR name is appended by `describe()`. */
const SENTENCES: ReadonlyMap<number, string> = new Map([
  [0x00000003, 'the slot id is not valid (tokens move between slots: find them by label)'],
  [0x00000007, 'the module refused the arguments (for OAEP on SoftHSM: only SHA-1 is supported)'],
  [0x00000010, 'the attribute is read-only'],
  [0x00000011, 'the attribute is sensitive and cannot be read'],
  [0x00000012, 'the module does not know this attribute for this object'],
  [0x00000013, 'an attribute value is not valid'],
  [0x00000030, 'the device reported an error'],
  [0x00000031, 'the token is out of memory'],
  [0x00000032, 'the token was removed'],
  [0x00000054, 'the module does not support this function'],
  [0x00000060, 'the key handle is not valid'],
  [0x00000062, 'the key size is outside the range the mechanism accepts'],
  [0x00000063, 'the key type does not fit the mechanism'],
  [0x00000068, 'the key attributes do not allow this operation'],
  [0x00000069, 'the key cannot be wrapped'],
  [0x0000006a, 'the key is not extractable (it was generated without CKF_EXTRACTABLE)'],
  [0x00000070, 'the module does not offer this mechanism'],
  [0x00000071, 'the module refused the mechanism parameters'],
  [0x00000082, 'the object handle is not valid'],
  [0x000000a0, 'the PIN is incorrect'],
  [0x000000a1, 'the PIN is not valid'],
  [0x000000a2, 'the PIN length is outside the range the token accepts'],
  [0x000000a3, 'the PIN has expired and must be changed'],
  [0x000000a4, 'the PIN is locked after too many failed attempts'],
  [0x000000b3, 'the session is no longer valid'],
  [0x000000b5, 'the session is read-only'],
  [0x000000d0, 'the template is missing an attribute the module requires'],
  [0x000000d1, 'the template is inconsistent'],
  [0x000000e0, 'the token is not present'],
  [0x000000e2, 'the token is write-protected'],
  [0x00000101, 'the user is not logged in'],
  [0x00000102, 'the user PIN was never initialised'],
  [0x00000110, 'the wrapped key is not valid'],
  [0x00000113, 'the wrapping key handle is not valid'],
  [0x00000114, 'the wrapping key size is outside the range the mechanism accepts'],
  [0x00000115, 'the wrapping key type does not fit the mechanism'],
  [0x00000130, 'the domain parameters (curve) are not valid'],
  [0x00000140, 'the curve is not supported by the token'],
  [0x00000150, 'the output buffer was too small'],
  [0x00000190, 'the library is not initialised'],
]);

/** A pkcs11js failure, typed to what we read from it. */
export interface Pkcs11Failure {
  readonly code: number;
  readonly method: string;
}

export function isPkcs11Failure(err: unknown): err is Pkcs11Failure & Error {
  // By shape, not instanceof: checking must not load the addon, and a second copy of pkcs11js in
  // node_modules would make instanceof fail for its errors.
  return (
    err instanceof Error && err.name === 'Pkcs11Error' && typeof (err as { code?: unknown }).code === 'number'
  );
}

/** The CKR number of a pkcs11js failure, or undefined for anything else. */
export function ckrOf(err: unknown): number | undefined {
  return isPkcs11Failure(err) ? err.code : undefined;
}

/** Sentence for a CKR value, without the name (`the PIN is incorrect`). */
export function ckrSentence(ckr: number): string {
  return SENTENCES.get(ckr) ?? 'the module returned an error';
}

/**
 * `C_Login failed: the PIN is incorrect` with code `CKR_PIN_INCORRECT`. `context` is what we were doing
 * (`C_Login`, `wrapping 'byok-key' with CKM_RSA_AES_KEY_WRAP`); ByokErrors pass through unchanged.
 */
export function toByokError(err: unknown, context: string): ByokError {
  if (isByokError(err)) return err;
  if (isPkcs11Failure(err)) {
    const name = ckrName(err.code);
    const method = err.method && !context.includes(err.method) ? ` (${err.method})` : '';
    return new ByokError(name, `${context} failed${method}: ${ckrSentence(err.code)}`, {
      cause: err,
      ckr: err.code,
    });
  }
  // pkcs11js raises TypeError for arguments it cannot marshal, NativeError for dlopen/dlsym trouble:
  // neither carries secrets (pkcs11js never echoes argument values), the first line is enough.
  const reason = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
  return new ByokError('CKR_FUNCTION_FAILED', `${context} failed: ${reason}`, { cause: err });
}

/** Run one PKCS#11 call, turning its failure into a ByokError named after `context`. */
export function p11<T>(context: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw toByokError(err, context);
  }
}
