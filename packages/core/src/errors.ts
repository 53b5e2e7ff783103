/**
 * Error codes. The drop-in CLI reports every failure as `<message>: CKR_NAME (0x%08X)`, exactly like
 * Thales' hsmbyok, so every error we raise carries the CKR name the original would have printed.
 * Errors outside PKCS#11 (clouds, ceremonies) use their own stable codes in the same class.
 */

/** Standard PKCS#11 return values we report, plus the vendor-range codes the original hsmbyok invented. */
export const CKR = {
  CKR_OK: 0x00000000,
  CKR_CANCEL: 0x00000001,
  CKR_HOST_MEMORY: 0x00000002,
  CKR_SLOT_ID_INVALID: 0x00000003,
  CKR_GENERAL_ERROR: 0x00000005,
  CKR_FUNCTION_FAILED: 0x00000006,
  CKR_ARGUMENTS_BAD: 0x00000007,
  CKR_ATTRIBUTE_READ_ONLY: 0x00000010,
  CKR_ATTRIBUTE_SENSITIVE: 0x00000011,
  CKR_ATTRIBUTE_TYPE_INVALID: 0x00000012,
  CKR_ATTRIBUTE_VALUE_INVALID: 0x00000013,
  CKR_DEVICE_ERROR: 0x00000030,
  CKR_DEVICE_MEMORY: 0x00000031,
  CKR_DEVICE_REMOVED: 0x00000032,
  CKR_FUNCTION_NOT_SUPPORTED: 0x00000054,
  CKR_KEY_HANDLE_INVALID: 0x00000060,
  CKR_KEY_SIZE_RANGE: 0x00000062,
  CKR_KEY_TYPE_INCONSISTENT: 0x00000063,
  CKR_KEY_FUNCTION_NOT_PERMITTED: 0x00000068,
  CKR_KEY_NOT_WRAPPABLE: 0x00000069,
  CKR_KEY_UNEXTRACTABLE: 0x0000006a,
  CKR_MECHANISM_INVALID: 0x00000070,
  CKR_MECHANISM_PARAM_INVALID: 0x00000071,
  CKR_OBJECT_HANDLE_INVALID: 0x00000082,
  CKR_OPERATION_ACTIVE: 0x00000090,
  CKR_PIN_INCORRECT: 0x000000a0,
  CKR_PIN_INVALID: 0x000000a1,
  CKR_PIN_LEN_RANGE: 0x000000a2,
  CKR_PIN_EXPIRED: 0x000000a3,
  CKR_PIN_LOCKED: 0x000000a4,
  CKR_SESSION_CLOSED: 0x000000b0,
  CKR_SESSION_HANDLE_INVALID: 0x000000b3,
  CKR_SESSION_READ_ONLY: 0x000000b5,
  CKR_TEMPLATE_INCOMPLETE: 0x000000d0,
  CKR_TEMPLATE_INCONSISTENT: 0x000000d1,
  CKR_TOKEN_NOT_PRESENT: 0x000000e0,
  CKR_TOKEN_NOT_RECOGNIZED: 0x000000e1,
  CKR_TOKEN_WRITE_PROTECTED: 0x000000e2,
  CKR_USER_ALREADY_LOGGED_IN: 0x00000100,
  CKR_USER_NOT_LOGGED_IN: 0x00000101,
  CKR_USER_PIN_NOT_INITIALIZED: 0x00000102,
  CKR_USER_TYPE_INVALID: 0x00000103,
  CKR_WRAPPED_KEY_INVALID: 0x00000110,
  CKR_WRAPPING_KEY_HANDLE_INVALID: 0x00000113,
  CKR_WRAPPING_KEY_SIZE_RANGE: 0x00000114,
  CKR_WRAPPING_KEY_TYPE_INCONSISTENT: 0x00000115,
  CKR_RANDOM_NO_RNG: 0x00000121,
  CKR_DOMAIN_PARAMS_INVALID: 0x00000130,
  CKR_CURVE_NOT_SUPPORTED: 0x00000140,
  CKR_BUFFER_TOO_SMALL: 0x00000150,
  CKR_CRYPTOKI_NOT_INITIALIZED: 0x00000190,
  CKR_CRYPTOKI_ALREADY_INITIALIZED: 0x00000191,
  // hsmbyok's own codes (vendor-defined range), kept so runbooks that grep for them keep working.
  CKR_OBJECT_NOT_FOUND: 0x8000e000,
  CKR_LOAD_LIBRARY: 0x8000e001,
  CKR_LOAD_LIBRARY_SYMBOL: 0x8000e002,
  CKR_FILE_NOT_FOUND: 0x8000e003,
  CKR_FILE_IO: 0x8000e004,
  CKR_INVALID_COMMAND: 0x8000e005,
  CKR_MULTIPLE_OBJECTS: 0x8000e006,
  CKR_TOKEN_NOT_FOUND: 0x8000e008,
  // Ours, same range: a partition policy / key attribute forbids what the config asks for.
  CKR_POLICY_VIOLATION: 0x8000e010,
} as const;

export type CkrName = keyof typeof CKR;

const CKR_BY_VALUE = new Map<number, CkrName>(
  (Object.entries(CKR) as [CkrName, number][]).map(([name, value]) => [value, name]),
);

/** `CKR_PIN_INCORRECT` for 0xA0; `CKR_VENDOR_DEFINED_0x...` / `CKR_0x...` for codes we do not know. */
export function ckrName(value: number): string {
  const known = CKR_BY_VALUE.get(value);
  if (known) return known;
  if (value >= 0x80000000) return `CKR_VENDOR_DEFINED_${hex8(value)}`;
  return `CKR_${hex8(value)}`;
}

/** `0x000000A0`: the original prints `%08X` behind `0x`. */
export function hex8(value: number): string {
  return `0x${(value >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/**
 * The one error class of the project. `code` is a stable identifier a caller can branch on
 * (a CKR name for everything the drop-in CLI reports); `message` is one sentence a custodian can act on
 * and never contains a PIN or key material.
 */
export class ByokError extends Error {
  override readonly name = 'ByokError';
  readonly code: string;
  /** The numeric CKR value behind `code` when it is a CKR name (what `hsmbyok` prints in hex). */
  readonly ckr: number;

  constructor(code: CkrName | (string & {}), message: string, options?: { cause?: unknown; ckr?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.ckr = options?.ckr ?? (code in CKR ? CKR[code as CkrName] : CKR.CKR_FUNCTION_FAILED);
  }

  /** `message: CKR_NAME (0x%08X)`: the original's ERROR line body. */
  describe(): string {
    return `${this.message}: ${ckrName(this.ckr)} (${hex8(this.ckr)})`;
  }
}

export function isByokError(value: unknown): value is ByokError {
  return value instanceof ByokError;
}
