/**
 * The two native addons, required on first use rather than imported. A plain `require` hands back the addon's
 * own exports object; an ESM import of a CommonJS module makes bundlers copy every export (pkcs11js has
 * about two thousand constants) at start-up. koffi in particular is needed only for Luna's CA_* functions, the
 * one-step wrap's parameter struct and explaining why a library failed to load, so a wrap on SoftHSM or a
 * YubiHSM never loads it (bench/hsmbyok.mjs measures what that saves).
 */
import { createRequire } from 'node:module';
import type Koffi from 'koffi';
import type Pkcs11js from 'pkcs11js';

const requireNative = createRequire(import.meta.url);

let pkcs11jsModule: typeof Pkcs11js | undefined;
let koffiModule: typeof Koffi | undefined;

export function loadPkcs11js(): typeof Pkcs11js {
  pkcs11jsModule ??= requireNative('pkcs11js') as typeof Pkcs11js;
  return pkcs11jsModule;
}

export function loadKoffi(): typeof Koffi {
  koffiModule ??= requireNative('koffi') as typeof Koffi;
  return koffiModule;
}
