/**
 * The two native addons, required on first use rather than imported. koffi is needed only for Luna's CA_*
 * functions, the one-step wrap's parameter struct and explaining why a library failed to load, so a wrap on
 * SoftHSM or a YubiHSM never loads it.
 *
 * pkcs11js is used through its compiled addon (`build/Release/pkcs11.node`) and a thin binding of our own,
 * not through the package's index.js. That file, at every start, copies the addon's ~650 constants into a new
 * object, promisifies ~20 methods and wraps every C_* function of every instance in closures: ~7 ms, a third
 * of a drop-in wrap's own time (bench/hsmbyok.mjs). The binding keeps what we rely on from index.js, for the
 * functions this package calls and only those (`Pkcs11Api`: calling another one does not compile):
 * - a failing call throws `Pkcs11Error` with the CKR number in `code` and the function in `method`
 *   (the addon itself throws a plain Error whose message is `CKR_NAME:decimal`);
 * - functions with an output buffer return the filled part of it (the addon returns the length);
 * - `C_FindObjects(session)` without a count returns one handle or null.
 * pkcs11js is pinned to one version in package.json; test/native.test.ts checks the binding against
 * pkcs11js's own index.js on SoftHSM.
 */
import { createRequire } from 'node:module';
import type Koffi from 'koffi';
import type Pkcs11js from 'pkcs11js';

const requireNative = createRequire(import.meta.url);

/** The PKCS#11 functions this package calls, typed as pkcs11js types them. */
const FUNCTIONS = [
  'C_Initialize',
  'C_Finalize',
  'C_GetInfo',
  'C_GetSlotList',
  'C_GetTokenInfo',
  'C_GetMechanismList',
  'C_GetMechanismInfo',
  'C_OpenSession',
  'C_CloseSession',
  'C_Login',
  'C_Logout',
  'C_FindObjectsInit',
  'C_FindObjects',
  'C_FindObjectsFinal',
  'C_GetAttributeValue',
  'C_CreateObject',
  'C_DestroyObject',
  'C_GenerateKey',
  'C_GenerateKeyPair',
  'C_WrapKey',
  'C_EncryptInit',
  'C_Encrypt',
  'C_SignInit',
  'C_Sign',
] as const;
export type Pkcs11Function = (typeof FUNCTIONS)[number];
export const PKCS11_FUNCTIONS: readonly Pkcs11Function[] = FUNCTIONS;

/** pkcs11js's PKCS11 class as this package uses it: `load`, `close` and the functions above. */
export type Pkcs11Api = Pick<Pkcs11js.PKCS11, 'load' | 'close' | Pkcs11Function>;

/** The addon's exports: our PKCS11 class and the addon's CK* constants. */
export type Pkcs11Addon = Omit<typeof Pkcs11js, 'PKCS11'> & { readonly PKCS11: new () => Pkcs11Api };

/** The error pkcs11js's index.js throws, with the same shape: errors.ts recognises both by it. */
export class Pkcs11Error extends Error {
  readonly code: number;
  readonly method: string;

  constructor(message: string, code: number, method: string) {
    super(message);
    this.name = 'Pkcs11Error';
    this.code = code;
    this.method = method;
  }
}

const RV_MESSAGE = /^(CKR_\w+):(\d+)$/;

/** The addon's `CKR_PIN_INCORRECT:160` becomes a Pkcs11Error; argument and loader errors pass unchanged. */
export function fromAddonError(error: unknown, method: string): unknown {
  if (!(error instanceof Error) || error.constructor !== Error) return error;
  const rv = RV_MESSAGE.exec(error.message);
  if (!rv) return error;
  return new Pkcs11Error(rv[1] as string, Number(rv[2]), method);
}

type AddonMethod = (this: unknown, ...args: unknown[]) => unknown;

/**
 * The addon's class with our error translation and outputs, written as a class literal: V8 builds its
 * prototype in one step, where defining the methods one by one cost half a millisecond at every start.
 */
function bindAddon(raw: Record<string, unknown>): Pkcs11Addon {
  const Native = raw.PKCS11 as new () => object;
  const native = Native.prototype as Record<Pkcs11Function, AddonMethod>;
  function call(self: unknown, name: Pkcs11Function, args: unknown[]): unknown {
    try {
      return native[name].apply(self, args);
    } catch (error) {
      throw fromAddonError(error, name);
    }
  }
  /** The addon returns how many bytes it wrote into the output buffer, argument `at`. */
  function output(self: unknown, name: Pkcs11Function, args: unknown[], at: number): Buffer {
    return (args[at] as Buffer).subarray(0, call(self, name, args) as number);
  }
  class Pkcs11Binding extends Native {
    C_Initialize(...a: unknown[]) {
      return call(this, 'C_Initialize', a);
    }
    C_Finalize(...a: unknown[]) {
      return call(this, 'C_Finalize', a);
    }
    C_GetInfo(...a: unknown[]) {
      return call(this, 'C_GetInfo', a);
    }
    C_GetSlotList(...a: unknown[]) {
      return call(this, 'C_GetSlotList', a);
    }
    C_GetTokenInfo(...a: unknown[]) {
      return call(this, 'C_GetTokenInfo', a);
    }
    C_GetMechanismList(...a: unknown[]) {
      return call(this, 'C_GetMechanismList', a);
    }
    C_GetMechanismInfo(...a: unknown[]) {
      return call(this, 'C_GetMechanismInfo', a);
    }
    C_OpenSession(...a: unknown[]) {
      return call(this, 'C_OpenSession', a);
    }
    C_CloseSession(...a: unknown[]) {
      return call(this, 'C_CloseSession', a);
    }
    C_Login(...a: unknown[]) {
      return call(this, 'C_Login', a);
    }
    C_Logout(...a: unknown[]) {
      return call(this, 'C_Logout', a);
    }
    C_FindObjectsInit(...a: unknown[]) {
      return call(this, 'C_FindObjectsInit', a);
    }
    C_FindObjects(...a: unknown[]) {
      if (a.length >= 2) return call(this, 'C_FindObjects', a);
      return (call(this, 'C_FindObjects', [a[0], 1]) as Buffer[])[0] ?? null;
    }
    C_FindObjectsFinal(...a: unknown[]) {
      return call(this, 'C_FindObjectsFinal', a);
    }
    C_GetAttributeValue(...a: unknown[]) {
      return call(this, 'C_GetAttributeValue', a);
    }
    C_CreateObject(...a: unknown[]) {
      return call(this, 'C_CreateObject', a);
    }
    C_DestroyObject(...a: unknown[]) {
      return call(this, 'C_DestroyObject', a);
    }
    C_GenerateKey(...a: unknown[]) {
      return call(this, 'C_GenerateKey', a);
    }
    C_GenerateKeyPair(...a: unknown[]) {
      return call(this, 'C_GenerateKeyPair', a);
    }
    C_WrapKey(...a: unknown[]) {
      return output(this, 'C_WrapKey', a, 4);
    }
    C_EncryptInit(...a: unknown[]) {
      return call(this, 'C_EncryptInit', a);
    }
    C_Encrypt(...a: unknown[]) {
      return output(this, 'C_Encrypt', a, 2);
    }
    C_SignInit(...a: unknown[]) {
      return call(this, 'C_SignInit', a);
    }
    C_Sign(...a: unknown[]) {
      return output(this, 'C_Sign', a, 2);
    }
  }
  // The constants are read through the prototype chain from the addon's own exports: nothing is copied.
  return Object.create(raw, { PKCS11: { value: Pkcs11Binding } }) as Pkcs11Addon;
}

let pkcs11Addon: Pkcs11Addon | undefined;
let koffiModule: typeof Koffi | undefined;

/** pkcs11js's addon with our binding of PKCS11; the CK* constants are the addon's. */
export function loadPkcs11js(): Pkcs11Addon {
  pkcs11Addon ??= bindAddon(requireNative('pkcs11js/build/Release/pkcs11.node') as Record<string, unknown>);
  return pkcs11Addon;
}

export function loadKoffi(): typeof Koffi {
  koffiModule ??= requireNative('koffi') as typeof Koffi;
  return koffiModule;
}
