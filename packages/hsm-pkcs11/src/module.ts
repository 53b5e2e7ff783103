/**
 * A loaded PKCS#11 library: C_Initialize once per library file per process (reference-counted, so the CLI,
 * the worker's activities and tests may each hold one), tokens by label, mechanism lists, sessions.
 */
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ByokError } from '@byok/core';
import type { IKoffiLib } from 'koffi';
import { CKF_SESSION, CKF_TOKEN_INITIALIZED } from './constants.js';
import { ckrOf, p11 } from './errors.js';
import { mayExportSymbol } from './exports.js';
import { LUNA_PROBE_SYMBOL, LunaExtensions } from './luna.js';
import { loadKoffi, loadPkcs11js, type Pkcs11Api } from './native.js';
import { HsmSession } from './session.js';
import type { MechanismInfo, TokenInfo } from './types.js';

export interface ModuleInfo {
  /** CK_INFO.manufacturerID, trimmed (`SoftHSM`, `SafeNet`, ...). */
  readonly manufacturer: string;
  readonly description: string;
  /** Library version `major.minor`. */
  readonly version: string;
  /** Cryptoki version the library implements, `major.minor`. */
  readonly cryptokiVersion: string;
}

/**
 * The mechanism list of one slot. A Map, so callers treat it as `Map<number, MechanismInfo>`; it also
 * remembers the module's manufacturer, which `planWrap` needs to judge SoftHSM's 0x210A.
 */
export class MechanismList extends Map<number, MechanismInfo> {
  constructor(
    entries: Iterable<readonly [number, MechanismInfo]>,
    readonly manufacturer: string,
  ) {
    super(entries);
  }
}

interface LoadedLibrary {
  readonly libraryPath: string;
  readonly pkcs11: Pkcs11Api;
  /** Bound on first use (see lunaExtensions). */
  luna: LunaExtensions | undefined | 'unprobed';
  /** koffi's handle on the library, held while the Luna functions are bound. */
  koffiLib?: IKoffiLib;
  /** False when someone else in this process had already initialised the library (we must not finalise). */
  readonly ownsInitialization: boolean;
  refs: number;
}

const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const loaded = new Map<string, LoadedLibrary>();

function hint(): string {
  return 'check libraryName in HsmConfig.ini';
}

/** Same file, same key: dlopen shares one copy of the library, so C_Initialize must be shared too. */
function libraryKey(libraryPath: string): string {
  try {
    return existsSync(libraryPath) ? realpathSync(libraryPath) : libraryPath;
  } catch {
    return libraryPath;
  }
}

/**
 * Why a library pkcs11js could not load failed: koffi's dlopen names the loader's reason (missing file,
 * wrong architecture, missing dependency) and tells a shared library from a PKCS#11 one. Only called after
 * a failure, so a working library never loads koffi for this.
 */
function diagnoseLoadFailure(libraryPath: string, pkcs11jsError: unknown): ByokError {
  let lib: IKoffiLib;
  try {
    lib = loadKoffi().load(libraryPath);
  } catch (err) {
    const reason =
      err instanceof Error ? err.message.replace(/^Failed to load shared library: /, '') : 'unknown';
    return new ByokError(
      'CKR_LOAD_LIBRARY',
      `cannot load PKCS#11 library '${libraryPath}': ${reason}; ${hint()}`,
      { cause: err },
    );
  }
  try {
    lib.func('unsigned long C_GetFunctionList(void *ppFunctionList)');
  } catch (err) {
    return new ByokError(
      'CKR_LOAD_LIBRARY_SYMBOL',
      `cannot load PKCS#11 library '${libraryPath}': it does not export C_GetFunctionList ` +
        `(not a PKCS#11 library); ${hint()}`,
      { cause: err },
    );
  } finally {
    lib.unload();
  }
  const reason = pkcs11jsError instanceof Error ? pkcs11jsError.message.split('\n')[0] : 'unknown';
  return new ByokError(
    'CKR_LOAD_LIBRARY',
    `cannot load PKCS#11 library '${libraryPath}': ${reason}; ${hint()}`,
    {
      cause: pkcs11jsError,
    },
  );
}

function openLibrary(libraryPath: string): LoadedLibrary {
  const looksLikePath = isAbsolute(libraryPath) || /[\\/]/.test(libraryPath);
  if (looksLikePath && !existsSync(libraryPath)) {
    throw new ByokError(
      'CKR_LOAD_LIBRARY',
      `cannot load PKCS#11 library '${libraryPath}': no such file; ${hint()}`,
    );
  }
  const pkcs11 = new (loadPkcs11js().PKCS11)();
  try {
    pkcs11.load(libraryPath);
  } catch (err) {
    throw diagnoseLoadFailure(libraryPath, err);
  }
  let ownsInitialization = true;
  try {
    pkcs11.C_Initialize();
  } catch (err) {
    if (ckrOf(err) === CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      ownsInitialization = false;
    } else {
      try {
        pkcs11.close();
      } catch {
        // the initialisation error is the one worth reporting
      }
      throw p11(`C_Initialize of '${libraryPath}'`, () => {
        throw err;
      });
    }
  }
  return { libraryPath, pkcs11, luna: 'unprobed', ownsInitialization, refs: 0 };
}

/**
 * Luna's CA_* functions, bound with koffi from the same file on first use. A library whose dynamic symbols
 * do not name CA_GetContainerPolicySetting (SoftHSM, YubiHSM, ...) is answered without loading koffi.
 */
function lunaExtensions(library: LoadedLibrary): LunaExtensions | undefined {
  if (library.luna !== 'unprobed') return library.luna;
  library.luna = undefined;
  if (!mayExportSymbol(library.libraryPath, LUNA_PROBE_SYMBOL)) return undefined;
  let lib: IKoffiLib;
  try {
    lib = loadKoffi().load(library.libraryPath);
  } catch {
    return undefined; // pkcs11js loaded this very file: a failure here leaves only the standard functions
  }
  const luna = LunaExtensions.bind(lib);
  if (luna) {
    library.koffiLib = lib;
    library.luna = luna;
  } else {
    lib.unload();
  }
  return luna;
}

function trim(value: string): string {
  return value.replace(/[\s\0]+$/u, '');
}

function version(v: { major: number; minor: number }): string {
  return `${v.major}.${v.minor}`;
}

/** pkcs11js hands slot ids around as CK_ULONG buffers (8 bytes on LP64, 4 on Windows). */
function slotNumber(handle: Buffer): number {
  return handle.length >= 8 ? Number(handle.readBigUInt64LE(0)) : handle.readUInt32LE(0);
}

export class Pkcs11Module {
  private closed = false;
  private readonly slots = new Map<number, Buffer>();
  private readonly sessions = new Set<HsmSession>();
  private cachedInfo: ModuleInfo | undefined;

  private constructor(
    readonly libraryPath: string,
    private readonly key: string,
    private readonly library: LoadedLibrary,
  ) {}

  /** Loads the library and calls C_Initialize (shared with other modules of the same file in this process). */
  static load(libraryPath: string): Pkcs11Module {
    const key = libraryKey(libraryPath);
    let library = loaded.get(key);
    if (!library) {
      library = openLibrary(libraryPath);
      loaded.set(key, library);
    }
    library.refs += 1;
    return new Pkcs11Module(libraryPath, key, library);
  }

  /** Luna partition-policy functions, when the library exports them. */
  get luna(): LunaExtensions | undefined {
    this.assertOpen();
    return lunaExtensions(this.library);
  }

  /** @internal the pkcs11js binding, for HsmSession. */
  get pkcs11(): Pkcs11Api {
    this.assertOpen();
    return this.library.pkcs11;
  }

  info(): ModuleInfo {
    if (!this.cachedInfo) {
      const info = p11('C_GetInfo', () => this.pkcs11.C_GetInfo());
      this.cachedInfo = {
        manufacturer: trim(info.manufacturerID),
        description: trim(info.libraryDescription),
        version: version(info.libraryVersion),
        cryptokiVersion: version(info.cryptokiVersion),
      };
    }
    return this.cachedInfo;
  }

  /** SoftHSM's mechanism numbers and OAEP limits differ from the standard: see planWrap. */
  get isSoftHsm(): boolean {
    return this.info().manufacturer.startsWith('SoftHSM');
  }

  /** Initialised tokens present in a slot (SoftHSM's always-empty spare slot is left out). */
  tokens(): TokenInfo[] {
    const slots = p11('C_GetSlotList', () => this.pkcs11.C_GetSlotList(true));
    const tokens: TokenInfo[] = [];
    for (const slot of slots) {
      const info = p11('C_GetTokenInfo', () => this.pkcs11.C_GetTokenInfo(slot));
      if ((info.flags & CKF_TOKEN_INITIALIZED) === 0) continue;
      const slotId = slotNumber(slot);
      this.slots.set(slotId, slot);
      tokens.push({
        slotId,
        label: trim(info.label),
        manufacturer: trim(info.manufacturerID),
        model: trim(info.model),
        serialNumber: trim(info.serialNumber),
        firmware: version(info.firmwareVersion),
      });
    }
    return tokens;
  }

  /** The token with this label; the error lists the labels present so a typo is obvious. */
  findToken(label: string): TokenInfo {
    const tokens = this.tokens();
    const matches = tokens.filter((t) => t.label === label);
    const [token] = matches;
    if (token && matches.length === 1) return token;
    if (matches.length > 1) {
      throw new ByokError(
        'CKR_MULTIPLE_OBJECTS',
        `token '${label}' is present ${matches.length} times (slots ${matches.map((t) => t.slotId).join(', ')}); ` +
          'give the tokens distinct labels',
      );
    }
    const labels = tokens.map((t) => `'${t.label}'`).sort();
    const present = labels.length === 0 ? 'none' : labels.join(', ');
    throw new ByokError('CKR_TOKEN_NOT_FOUND', `token '${label}' not found; tokens present: ${present}`);
  }

  /** Every mechanism the slot offers, with its key-size range and flags (CKF_WRAP, ...). */
  mechanisms(slotId: number): MechanismList {
    const slot = this.slot(slotId);
    const types = p11('C_GetMechanismList', () => this.pkcs11.C_GetMechanismList(slot));
    const entries = types.map((type): [number, MechanismInfo] => {
      const info = p11('C_GetMechanismInfo', () => this.pkcs11.C_GetMechanismInfo(slot, type));
      return [type, { type, minKeySize: info.minKeySize, maxKeySize: info.maxKeySize, flags: info.flags }];
    });
    return new MechanismList(entries, this.info().manufacturer);
  }

  /** C_GetMechanismInfo for one mechanism; undefined when the slot does not offer it. */
  mechanismInfo(slotId: number, mechanism: number): MechanismInfo | undefined {
    const slot = this.slot(slotId);
    try {
      const info = this.pkcs11.C_GetMechanismInfo(slot, mechanism);
      return { type: mechanism, minKeySize: info.minKeySize, maxKeySize: info.maxKeySize, flags: info.flags };
    } catch (err) {
      if (ckrOf(err) === 0x70) return undefined; // CKR_MECHANISM_INVALID
      throw p11('C_GetMechanismInfo', () => {
        throw err;
      });
    }
  }

  /** A read-write serial session (key generation and session objects need RW). */
  openSession(slotId: number): HsmSession {
    const slot = this.slot(slotId);
    const flags = CKF_SESSION.CKF_SERIAL_SESSION | CKF_SESSION.CKF_RW_SESSION;
    const handle = p11('C_OpenSession', () => this.pkcs11.C_OpenSession(slot, flags));
    const session = new HsmSession(this, slotId, handle, () => this.sessions.delete(session));
    this.sessions.add(session);
    return session;
  }

  /** Closes this module's sessions, then C_Finalize when the last user of the library lets go. Idempotent. */
  close(): void {
    if (this.closed) return;
    // Sessions first, while the module still counts as open: their close() logs out and destroys the
    // session objects they created; C_Finalize below would drop them anyway, so a failure is not fatal.
    for (const session of [...this.sessions]) {
      try {
        session.close();
      } catch {
        // the module is going away; C_Finalize releases whatever the session still held
      }
    }
    this.closed = true;
    this.library.refs -= 1;
    if (this.library.refs > 0) return;
    loaded.delete(this.key);
    try {
      if (this.library.ownsInitialization) this.library.pkcs11.C_Finalize();
    } finally {
      try {
        this.library.pkcs11.close();
      } catch {
        // dlclose failures leave nothing to clean up
      }
      this.library.koffiLib?.unload();
    }
  }

  private slot(slotId: number): Buffer {
    this.assertOpen();
    let slot = this.slots.get(slotId);
    if (!slot) {
      this.tokens();
      slot = this.slots.get(slotId);
    }
    if (!slot) throw new ByokError('CKR_SLOT_ID_INVALID', `slot ${slotId} has no initialised token`);
    return slot;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new ByokError('CKR_CRYPTOKI_NOT_INITIALIZED', `PKCS#11 library '${this.libraryPath}' is closed`);
    }
  }
}
