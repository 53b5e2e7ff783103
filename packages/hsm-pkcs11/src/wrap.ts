/**
 * Wrapping the target under the KEK: `RSA-OAEP(KEK, ephemeral AES-256) || AES-KWP(ephemeral, target)`.
 * `planWrap` decides which mechanisms this module will use before anything is generated; the executors
 * below make exactly those calls. Key material only ever leaves the HSM wrapped.
 */
import { ByokError, describeKeySpec, type KeySpec, type OaepHash, type WrapMethod } from '@byok/core';
import type Koffi from 'koffi';
import type pkcs11js from 'pkcs11js';
import { CKF_MECH, CKG, CKM, CKZ_DATA_SPECIFIED, mechanismName } from './constants.js';
import { p11 } from './errors.js';
import { ephemeralAesTemplate } from './keygen.js';
import { loadKoffi, loadPkcs11js, type Pkcs11Api } from './native.js';
import type { KekHandle, MechanismInfo, TargetKey, WrapPlan } from './types.js';

/** RSA-4096 PKCS#8 wraps to ~2.4 KB; C_WrapKey cannot be asked for the length through pkcs11js. */
const WRAPPED_TARGET_MAX = 16 * 1024;

const OAEP_HASH: Readonly<Record<OaepHash, { hashAlg: number; mgf: number; name: string }>> = {
  sha1: { hashAlg: CKM.CKM_SHA_1, mgf: CKG.CKG_MGF1_SHA1, name: 'SHA-1' },
  sha224: { hashAlg: CKM.CKM_SHA224, mgf: CKG.CKG_MGF1_SHA224, name: 'SHA-224' },
  sha256: { hashAlg: CKM.CKM_SHA256, mgf: CKG.CKG_MGF1_SHA256, name: 'SHA-256' },
  sha384: { hashAlg: CKM.CKM_SHA384, mgf: CKG.CKG_MGF1_SHA384, name: 'SHA-384' },
  sha512: { hashAlg: CKM.CKM_SHA512, mgf: CKG.CKG_MGF1_SHA512, name: 'SHA-512' },
};

/** The modules whose numbers we know to mean RFC 5649, in the order we prefer them. */
const KWP_CANDIDATES: readonly { mechanism: number; softHsmOnly: boolean }[] = [
  // Luna's own RFC 5649.
  { mechanism: CKM.CKM_LUNA_AES_KWP, softHsmOnly: false },
  // PKCS#11 v3.0 CKM_AES_KEY_WRAP_KWP.
  { mechanism: CKM.CKM_AES_KEY_WRAP_KWP, softHsmOnly: false },
  // 0x210A is RFC 5649 in SoftHSM 2.x but PKCS#7-padded RFC 3394 in v3.0: trust it from SoftHSM only.
  { mechanism: CKM.CKM_AES_KEY_WRAP_PAD, softHsmOnly: true },
];

function canWrap(mechanisms: ReadonlyMap<number, MechanismInfo>, mechanism: number): boolean {
  const info = mechanisms.get(mechanism);
  return info !== undefined && (info.flags & CKF_MECH.CKF_WRAP) !== 0;
}

function manufacturerOf(
  mechanisms: ReadonlyMap<number, MechanismInfo>,
  module?: { manufacturer: string },
): string {
  if (module) return module.manufacturer;
  // Pkcs11Module.mechanisms() returns a MechanismList that carries it.
  const carried: unknown = Reflect.get(mechanisms, 'manufacturer');
  return typeof carried === 'string' ? carried : '';
}

export function isSoftHsmManufacturer(manufacturer: string): boolean {
  return manufacturer.startsWith('SoftHSM');
}

export function oaepHashName(hash: OaepHash): string {
  return OAEP_HASH[hash].name;
}

/**
 * Which calls the wrap will make on this module. Throws before anything is generated when the module cannot
 * do what the config asks. `module` (its CK_INFO manufacturer) is read from `mechanisms` when it came from
 * `Pkcs11Module.mechanisms()`; pass it when the map was built otherwise.
 */
export function planWrap(
  mechanisms: ReadonlyMap<number, MechanismInfo>,
  method: WrapMethod,
  spec: KeySpec,
  module?: { readonly manufacturer: string },
): WrapPlan {
  const manufacturer = manufacturerOf(mechanisms, module);
  const softHsm = isSoftHsmManufacturer(manufacturer);
  const hash = OAEP_HASH[method.oaepHash];
  const target = describeKeySpec(spec);

  if (softHsm && method.oaepHash !== 'sha1') {
    // SoftHSM answers CKR_ARGUMENTS_BAD at C_WrapKey time for any other OAEP hash: refuse now, never fall back.
    throw new ByokError(
      'CKR_MECHANISM_PARAM_INVALID',
      `SoftHSM supports OAEP with SHA-1 only; list CKG_MGF1_SHA1 (and no higher CKG_MGF1_*) in wrappingCiphers ` +
        `instead of OAEP ${hash.name}`,
    );
  }

  if (method.kind === 'one-step') {
    if (!canWrap(mechanisms, CKM.CKM_RSA_AES_KEY_WRAP)) {
      throw new ByokError(
        'CKR_MECHANISM_INVALID',
        'this module has no CKM_RSA_AES_KEY_WRAP; list CKM_AES_KWP in wrappingCiphers to wrap in two steps',
      );
    }
    return {
      kind: 'one-step',
      oaepHash: method.oaepHash,
      oneStepMechanism: CKM.CKM_RSA_AES_KEY_WRAP,
      description: `${mechanismName(CKM.CKM_RSA_AES_KEY_WRAP)} with OAEP ${hash.name}, AES-256, for ${target}`,
    };
  }

  if (!canWrap(mechanisms, CKM.CKM_RSA_PKCS_OAEP)) {
    throw new ByokError(
      'CKR_MECHANISM_INVALID',
      'this module cannot wrap with CKM_RSA_PKCS_OAEP, which the two-step wrap needs for the ephemeral AES key',
    );
  }
  const kwp = KWP_CANDIDATES.find((c) => (!c.softHsmOnly || softHsm) && canWrap(mechanisms, c.mechanism));
  if (!kwp) {
    throw new ByokError(
      'CKR_MECHANISM_INVALID',
      `this module has no RFC 5649 key wrap for ${method.kwpName} (looked for CKM_AES_KWP 0x80000171, ` +
        "CKM_AES_KEY_WRAP_KWP 0x0000210B, and SoftHSM's CKM_AES_KEY_WRAP_PAD 0x0000210A)",
    );
  }
  return {
    kind: 'two-step',
    oaepHash: method.oaepHash,
    kwpMechanism: kwp.mechanism,
    description:
      `${mechanismName(CKM.CKM_RSA_PKCS_OAEP)} ${hash.name} + ${mechanismName(kwp.mechanism)} as RFC 5649 ` +
      `(${method.kwpName}), AES-256, for ${target}`,
  };
}

/** The PKCS#11 mechanisms a plan will call C_WrapKey with (what preflight checks for CKF_WRAP). */
export function planMechanisms(plan: WrapPlan): number[] {
  if (plan.kind === 'one-step') return [plan.oneStepMechanism ?? CKM.CKM_RSA_AES_KEY_WRAP];
  return [CKM.CKM_RSA_PKCS_OAEP, plan.kwpMechanism ?? CKM.CKM_AES_KEY_WRAP_KWP];
}

/** What an executor needs from the session: the binding, the handle and its session-object bookkeeping. */
export interface WrapIo {
  readonly pkcs11: Pkcs11Api;
  readonly session: Buffer;
  /** Remember a session object so `HsmSession.close()` destroys it if nobody else does. */
  track(handle: Buffer): void;
  /** C_DestroyObject; a failure leaves it tracked (close retries) and is not thrown. */
  destroyQuietly(handle: Buffer): void;
}

/** CKM_RSA_PKCS_OAEP with the same hash for OAEP and MGF1 and an empty label. */
export function oaepMechanism(hash: OaepHash): pkcs11js.Mechanism {
  const { hashAlg, mgf } = OAEP_HASH[hash];
  const parameter: pkcs11js.RsaOAEP = {
    type: loadPkcs11js().CK_PARAMS_RSA_OAEP,
    hashAlg,
    mgf,
    // The source is "data specified" with no data: an empty OAEP label, what every cloud expects.
    source: CKZ_DATA_SPECIFIED,
  };
  return { mechanism: CKM.CKM_RSA_PKCS_OAEP, parameter };
}

export function wrapWithPlan(io: WrapIo, target: TargetKey, kek: KekHandle, plan: WrapPlan): Buffer {
  return plan.kind === 'one-step' ? wrapOneStep(io, target, kek, plan) : wrapTwoStep(io, target, kek, plan);
}

function wrapTwoStep(io: WrapIo, target: TargetKey, kek: KekHandle, plan: WrapPlan): Buffer {
  const kwp = plan.kwpMechanism;
  if (kwp === undefined) throw new ByokError('CKR_ARGUMENTS_BAD', 'a two-step wrap plan needs kwpMechanism');
  const ephemeral = p11('C_GenerateKey (ephemeral AES-256 key)', () =>
    io.pkcs11.C_GenerateKey(io.session, { mechanism: CKM.CKM_AES_KEY_GEN }, ephemeralAesTemplate()),
  );
  io.track(ephemeral);
  try {
    const wrappedAes = p11(
      `C_WrapKey (ephemeral AES key under the KEK, ${mechanismName(CKM.CKM_RSA_PKCS_OAEP)})`,
      () =>
        io.pkcs11.C_WrapKey(
          io.session,
          oaepMechanism(plan.oaepHash),
          kek.handle,
          ephemeral,
          Buffer.alloc(Math.ceil(kek.modulusBits / 8)),
        ),
    );
    const wrappedTarget = p11(`C_WrapKey ('${target.label}' under the AES key, ${mechanismName(kwp)})`, () =>
      io.pkcs11.C_WrapKey(
        io.session,
        { mechanism: kwp },
        ephemeral,
        target.handle,
        Buffer.alloc(WRAPPED_TARGET_MAX),
      ),
    );
    return Buffer.concat([wrappedAes, wrappedTarget]);
  } finally {
    io.destroyQuietly(ephemeral);
  }
}

type KoffiType = ReturnType<typeof Koffi.struct>;
let oaepParamsType: KoffiType | undefined;

/** CK_RSA_PKCS_OAEP_PARAMS as koffi lays it out for this platform. */
function oaepParamsStruct(): KoffiType {
  if (!oaepParamsType) {
    const koffi = loadKoffi();
    const fields = {
      hashAlg: 'unsigned long',
      mgf: 'unsigned long',
      source: 'unsigned long',
      pSourceData: 'void *',
      ulSourceDataLen: 'unsigned long',
    };
    oaepParamsType = process.platform === 'win32' ? koffi.pack(fields) : koffi.struct(fields);
  }
  return oaepParamsType;
}

/** CK_ULONG is 8 bytes on LP64 (Linux, macOS) and 4 on Windows, where Cryptoki structs are packed to 1. */
function writeUlong(buffer: Buffer, offset: number, value: bigint, ulong: number): void {
  if (ulong === 8) buffer.writeBigUInt64LE(value, offset);
  else buffer.writeUInt32LE(Number(value), offset);
}

/**
 * CKM_RSA_AES_KEY_WRAP with CK_RSA_AES_KEY_WRAP_PARAMS {ulAESKeyBits = 256, pOAEPParams}. pkcs11js has no
 * parameter type for it but copies a Buffer parameter verbatim, so the outer struct is built by hand and
 * points at an OAEP params struct allocated with koffi, freed only after C_WrapKey returns.
 */
function wrapOneStep(io: WrapIo, target: TargetKey, kek: KekHandle, plan: WrapPlan): Buffer {
  const mechanism = plan.oneStepMechanism ?? CKM.CKM_RSA_AES_KEY_WRAP;
  const { hashAlg, mgf } = OAEP_HASH[plan.oaepHash];
  const koffi = loadKoffi();
  const type = oaepParamsStruct();
  const ULONG = koffi.sizeof('unsigned long');
  const POINTER = koffi.sizeof('void *');
  // koffi.alloc returns an opaque external pointer (typed `any` by koffi): only handed back to koffi below.
  const oaep: unknown = koffi.alloc(type, 1);
  try {
    koffi.encode(oaep, type, {
      hashAlg,
      mgf,
      source: CKZ_DATA_SPECIFIED,
      pSourceData: null,
      ulSourceDataLen: 0,
    });
    // Outer struct: ulong then pointer (aligned on LP64 since ULONG = 8; packed on Windows).
    const parameter = Buffer.alloc(ULONG + POINTER);
    writeUlong(parameter, 0, 256n, ULONG);
    parameter.writeBigUInt64LE(koffi.address(oaep), ULONG);
    return Buffer.from(
      p11(`C_WrapKey ('${target.label}' under the KEK, ${mechanismName(mechanism)})`, () =>
        io.pkcs11.C_WrapKey(
          io.session,
          { mechanism, parameter },
          kek.handle,
          target.handle,
          Buffer.alloc(Math.ceil(kek.modulusBits / 8) + WRAPPED_TARGET_MAX),
        ),
      ),
    );
  } finally {
    koffi.free(oaep);
  }
}
