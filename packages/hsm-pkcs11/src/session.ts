/**
 * One logged-in session on one token: find or generate the target key, import the KEK, wrap.
 * Handles (Buffers) are only valid in the session that made them. Session objects this session creates
 * (KEK, ephemeral keys, keys generated without CKF_TOKEN) are destroyed by `close()` if still alive.
 */
import type { KeyObject } from 'node:crypto';
import {
  ByokError,
  describeKeySpec,
  type Kek,
  type KeySpec,
  type OaepHash,
  type TargetKeyFlag,
} from '@byok/core';
import type pkcs11js from 'pkcs11js';
import { CKA, CKK, CKM, CKO, CKU_USER, mechanismName } from './constants.js';
import { ckrOf, p11, toByokError } from './errors.js';
import { kekTemplate, RSA_PUBLIC_EXPONENT, targetKeyTemplates } from './keygen.js';
import type { Pkcs11Module } from './module.js';
import type { Pkcs11Api } from './native.js';
import {
  bitLength,
  curveOfEcParams,
  describeEcParams,
  ecPointFromAttribute,
  ecPublicKey,
  rsaPublicKey,
  stripZeros,
} from './pubkey.js';
import type { FoundKey, KekHandle, TargetKey, WrapPlan } from './types.js';
import { isSoftHsmManufacturer, oaepHashName, oaepMechanism, type WrapIo, wrapWithPlan } from './wrap.js';

/** The original refuses shorter PINs before calling C_Login; so do we. */
export const MIN_PIN_LENGTH = 7;

const CKR_ATTRIBUTE_SENSITIVE = 0x11;
const CKR_ATTRIBUTE_TYPE_INVALID = 0x12;
const CKR_USER_ALREADY_LOGGED_IN = 0x100;
const CKR_OBJECT_HANDLE_INVALID = 0x82;

function readBool(value: Buffer | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== 0;
}

/** CK_ULONG attributes come back in the platform's size (8 bytes on LP64, 4 on Windows). */
function readUlong(value: Buffer): number {
  return value.length >= 8 ? Number(value.readBigUInt64LE(0)) : value.readUInt32LE(0);
}

function keyTypeName(keyType: number): string {
  switch (keyType) {
    case CKK.CKK_RSA:
      return 'RSA';
    case CKK.CKK_EC:
      return 'EC';
    case CKK.CKK_AES:
      return 'AES';
    case CKK.CKK_GENERIC_SECRET:
      return 'generic secret';
    default:
      return `key type 0x${keyType.toString(16)}`;
  }
}

const EXPECTED_KEY_TYPE: Readonly<Record<KeySpec['kind'], number>> = {
  rsa: CKK.CKK_RSA,
  ec: CKK.CKK_EC,
  aes: CKK.CKK_AES,
  hmac: CKK.CKK_GENERIC_SECRET,
};

function handleKey(handle: Buffer): string {
  return handle.toString('hex');
}

export class HsmSession {
  private closed = false;
  private loggedIn = false;
  /** Session objects we created and have not destroyed yet, by handle. */
  private readonly sessionObjects = new Map<string, Buffer>();

  /** @internal use `Pkcs11Module.openSession`. */
  constructor(
    readonly module: Pkcs11Module,
    readonly slotId: number,
    private readonly handle: Buffer,
    private readonly onClose: () => void,
  ) {}

  private get pkcs11(): Pkcs11Api {
    if (this.closed) throw new ByokError('CKR_SESSION_CLOSED', 'the HSM session is closed');
    return this.module.pkcs11;
  }

  /**
   * C_Login as the user (Crypto Officer on Luna). The PIN never appears in any message. A session of this
   * process that is already logged in to the token counts as success (PKCS#11 login state is per token).
   */
  login(pin: string): void {
    if (Buffer.byteLength(pin, 'utf8') < MIN_PIN_LENGTH) {
      throw new ByokError('CKR_PIN_INVALID', `the PIN must have at least ${MIN_PIN_LENGTH} characters`);
    }
    try {
      this.pkcs11.C_Login(this.handle, CKU_USER, pin);
      this.loggedIn = true;
    } catch (err) {
      if (ckrOf(err) === CKR_USER_ALREADY_LOGGED_IN) return;
      throw toByokError(err, 'C_Login');
    }
  }

  /**
   * Private and secret key objects on the token with this CKA_LABEL, whatever their CKA_PRIVATE (the
   * original searched CKA_PRIVATE=true only, missed public-readable keys and generated duplicates).
   */
  findTargetKeys(label: string): FoundKey[] {
    const found: FoundKey[] = [];
    for (const [objectClass, cko] of [
      ['private', CKO.CKO_PRIVATE_KEY],
      ['secret', CKO.CKO_SECRET_KEY],
    ] as const) {
      const handles = this.findObjects([
        { type: CKA.CKA_CLASS, value: cko },
        { type: CKA.CKA_LABEL, value: label },
        { type: CKA.CKA_TOKEN, value: true },
      ]);
      for (const handle of handles) {
        const [keyType, id, token, priv] = this.attributes(handle, [
          CKA.CKA_KEY_TYPE,
          CKA.CKA_ID,
          CKA.CKA_TOKEN,
          CKA.CKA_PRIVATE,
        ]);
        found.push({
          handle,
          objectClass,
          keyType: keyType ? readUlong(keyType) : -1,
          label,
          id: Buffer.from(id ?? Buffer.alloc(0)),
          token: readBool(token),
          private: readBool(priv),
        });
      }
    }
    return found;
  }

  /** The one target key with this label, undefined when there is none; several -> CKR_MULTIPLE_OBJECTS. */
  findTargetKey(label: string): FoundKey | undefined {
    const found = this.findTargetKeys(label);
    if (found.length > 1) {
      throw new ByokError(
        'CKR_MULTIPLE_OBJECTS',
        `${found.length} keys are labelled '${label}' on the token; give targetKeyName a unique label`,
      );
    }
    return found[0];
  }

  /**
   * Reads a found key's attributes and public half, checking it is what `spec` asks for: another type,
   * size or curve -> CKR_KEY_TYPE_INCONSISTENT naming both (the original wrapped whatever it found).
   */
  loadTargetKey(found: FoundKey, spec: KeySpec): TargetKey {
    return this.load(found, spec, undefined);
  }

  private load(found: FoundKey, spec: KeySpec, knownPublicHandle: Buffer | undefined): TargetKey {
    const wanted = describeKeySpec(spec);
    const mismatch = (actual: string): ByokError =>
      new ByokError(
        'CKR_KEY_TYPE_INCONSISTENT',
        `existing key '${found.label}' is ${actual} but targetKeySpec asks for ${wanted}; ` +
          'change targetKeyName or targetKeySpec',
      );
    const expectedType = EXPECTED_KEY_TYPE[spec.kind];
    if (found.keyType !== expectedType) throw mismatch(keyTypeName(found.keyType));

    const [extractable, sensitive, token, priv] = this.attributes(found.handle, [
      CKA.CKA_EXTRACTABLE,
      CKA.CKA_SENSITIVE,
      CKA.CKA_TOKEN,
      CKA.CKA_PRIVATE,
    ]);
    const wrapWithTrusted = readBool(this.optionalAttribute(found.handle, CKA.CKA_WRAP_WITH_TRUSTED));
    const common = {
      label: found.label,
      id: found.id,
      spec,
      handle: found.handle,
      extractable: readBool(extractable),
      sensitive: readBool(sensitive),
      token: readBool(token),
      private: readBool(priv),
      wrapWithTrusted,
      generated: false,
    };

    if (spec.kind === 'aes' || spec.kind === 'hmac') {
      const [valueLen] = this.attributes(found.handle, [CKA.CKA_VALUE_LEN]);
      const bits = valueLen ? readUlong(valueLen) * 8 : 0;
      if (bits !== spec.bits) throw mismatch(`${spec.kind === 'aes' ? 'AES' : 'HMAC'}-${bits}`);
      return common;
    }

    if (spec.kind === 'rsa') {
      // Modulus and exponent are public attributes, readable on the private object as well.
      const privateModulus = this.optionalAttribute(found.handle, CKA.CKA_MODULUS);
      const publicHandle = knownPublicHandle ?? this.findPublicHalf(found, CKA.CKA_MODULUS, privateModulus);
      const source = privateModulus ? found.handle : publicHandle;
      if (!source)
        throw new ByokError('CKR_ATTRIBUTE_SENSITIVE', `cannot read the modulus of '${found.label}'`);
      const [modulus, exponent] = this.attributes(source, [CKA.CKA_MODULUS, CKA.CKA_PUBLIC_EXPONENT]);
      const bits = bitLength(modulus ?? Buffer.alloc(0));
      if (bits !== spec.bits) throw mismatch(`RSA-${bits}`);
      const publicKey = rsaPublicKey(modulus ?? Buffer.alloc(0), exponent ?? Buffer.alloc(0));
      return { ...common, publicKey, ...(publicHandle ? { publicHandle } : {}) };
    }

    const [ecParams] = this.attributes(found.handle, [CKA.CKA_EC_PARAMS]);
    const params = ecParams ?? Buffer.alloc(0);
    if (!params.equals(spec.curve.ecParamsDer)) throw mismatch(`EC ${describeEcParams(params)}`);
    const publicHandle = knownPublicHandle ?? this.findPublicHalf(found, CKA.CKA_EC_PARAMS, params);
    // SoftHSM keeps CKA_EC_POINT on the public object only; Luna also has it on the private one.
    const pointAttribute =
      (publicHandle ? this.optionalAttribute(publicHandle, CKA.CKA_EC_POINT) : undefined) ??
      this.optionalAttribute(found.handle, CKA.CKA_EC_POINT);
    const publicKey = pointAttribute
      ? ecPublicKey(spec.curve, ecPointFromAttribute(pointAttribute, spec.curve))
      : undefined;
    return { ...common, ...(publicKey ? { publicKey } : {}), ...(publicHandle ? { publicHandle } : {}) };
  }

  /**
   * Generates the target key (see keygen.ts for every attribute), reads the public part back and checks
   * it is what was asked; a mismatch destroys the key and throws.
   */
  generateTargetKey(label: string, spec: KeySpec, flags: ReadonlySet<TargetKeyFlag>): TargetKey {
    const request = targetKeyTemplates(label, spec, flags);
    const what = `generating ${describeKeySpec(spec)} '${label}'`;
    let handle: Buffer;
    let publicHandle: Buffer | undefined;
    if (request.publicTemplate) {
      const publicTemplate = request.publicTemplate;
      const pair = p11(`${what} (C_GenerateKeyPair)`, () =>
        this.pkcs11.C_GenerateKeyPair(
          this.handle,
          request.mechanism,
          publicTemplate,
          request.privateTemplate,
        ),
      );
      handle = pair.privateKey;
      publicHandle = pair.publicKey;
    } else {
      handle = p11(`${what} (C_GenerateKey)`, () =>
        this.pkcs11.C_GenerateKey(this.handle, request.mechanism, request.privateTemplate),
      );
    }
    const token = flags.has('CKF_TOKEN');
    if (!token) {
      this.track(handle);
      if (publicHandle) this.track(publicHandle);
    }
    try {
      const found: FoundKey = {
        handle,
        objectClass: spec.kind === 'aes' || spec.kind === 'hmac' ? 'secret' : 'private',
        keyType: this.keyTypeOf(handle),
        label,
        id: Buffer.from(label, 'utf8'),
        token,
        private: true,
      };
      const key = this.load(found, spec, publicHandle);
      this.checkGenerated(key, spec, flags, publicHandle);
      return { ...key, ...(publicHandle ? { publicHandle } : {}), generated: true };
    } catch (err) {
      this.destroyQuietly(handle);
      if (publicHandle) this.destroyQuietly(publicHandle);
      if (err instanceof ByokError && err.code === 'CKR_KEY_TYPE_INCONSISTENT') {
        throw new ByokError(
          'CKR_FUNCTION_FAILED',
          `the module did not generate what was asked (${err.message}); the new key was destroyed`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** Imports the KEK (an RSA public key) as a session object to wrap under. */
  importKek(kek: Kek): KekHandle {
    const jwk = kek.publicKey.export({ format: 'jwk' });
    if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') {
      throw new ByokError('CKR_KEY_TYPE_INCONSISTENT', 'the KEK must be an RSA public key');
    }
    const modulus = Buffer.from(jwk.n, 'base64url');
    const exponent = Buffer.from(jwk.e, 'base64url');
    const label = `byok-kek ${kek.fingerprint.slice(0, 16)}`;
    const handle = p11('C_CreateObject (KEK)', () =>
      this.pkcs11.C_CreateObject(this.handle, kekTemplate(modulus, exponent, label)),
    );
    this.track(handle);
    return { handle, modulusBits: bitLength(modulus) };
  }

  /** Wraps the target under the KEK exactly as `plan` says (see wrap.ts). */
  wrap(target: TargetKey, kek: KekHandle, plan: WrapPlan): Buffer {
    return wrapWithPlan(this.wrapIo(), target, kek, plan);
  }

  /**
   * AWS KMS RSAES_OAEP_*: the secret key itself wrapped with CKM_RSA_PKCS_OAEP under the KEK (no AES layer).
   * Only secret keys (AES, HMAC): an RSA/EC private key does not fit one RSA block, and KMS refuses OAEP for
   * RSA keys anyway. SoftHSM's OAEP is SHA-1 only: any other hash is refused here, before C_WrapKey, with
   * the reason, never silently replaced.
   */
  wrapRsaOaep(target: TargetKey, kek: KekHandle, oaepHash: OaepHash): Buffer {
    if (target.spec.kind !== 'aes' && target.spec.kind !== 'hmac') {
      throw new ByokError(
        'CKR_KEY_TYPE_INCONSISTENT',
        `'${target.label}' is ${describeKeySpec(target.spec)}: a direct RSA-OAEP wrap takes AES or HMAC keys only; ` +
          'wrap private keys with CKM_RSA_AES_KEY_WRAP (one-step or two-step)',
      );
    }
    if (oaepHash !== 'sha1' && isSoftHsmManufacturer(this.module.info().manufacturer)) {
      throw new ByokError(
        'CKR_MECHANISM_PARAM_INVALID',
        `SoftHSM supports CKM_RSA_PKCS_OAEP with SHA-1 only, not ${oaepHashName(oaepHash)}; ` +
          'wrap with OAEP SHA-1 (AWS: RSAES_OAEP_SHA_1)',
      );
    }
    const mechanism = oaepMechanism(oaepHash);
    return Buffer.from(
      p11(`C_WrapKey ('${target.label}' under the KEK, ${mechanismName(CKM.CKM_RSA_PKCS_OAEP)})`, () =>
        this.pkcs11.C_WrapKey(
          this.handle,
          mechanism,
          kek.handle,
          target.handle,
          Buffer.alloc(Math.ceil(kek.modulusBits / 8)),
        ),
      ),
    );
  }

  /** C_DestroyObject; forgets it as a session object. */
  destroy(handle: Buffer): void {
    p11('C_DestroyObject', () => this.pkcs11.C_DestroyObject(this.handle, handle));
    this.sessionObjects.delete(handleKey(handle));
  }

  /** Destroys both halves of a target key (used to undo a generation when a later step fails). */
  destroyTargetKey(target: TargetKey): void {
    this.destroy(target.handle);
    if (target.publicHandle) this.destroy(target.publicHandle);
  }

  /** C_Sign with the target (RSA/EC private key or HMAC secret); for verification after import. */
  sign(target: TargetKey, mechanism: number | pkcs11js.Mechanism, data: Buffer): Buffer {
    const mech = typeof mechanism === 'number' ? { mechanism } : mechanism;
    return Buffer.from(
      p11(`C_Sign with '${target.label}' (${mechanismName(mech.mechanism)})`, () => {
        this.pkcs11.C_SignInit(this.handle, mech, target.handle);
        return this.pkcs11.C_Sign(this.handle, data, Buffer.alloc(1024));
      }),
    );
  }

  /** AES encryption with the target: CKM_AES_CBC with `iv`, CKM_AES_ECB without. No padding: whole blocks. */
  encryptAes(target: TargetKey, iv: Buffer | undefined, data: Buffer): Buffer {
    const mech: pkcs11js.Mechanism = iv
      ? { mechanism: CKM.CKM_AES_CBC, parameter: iv }
      : { mechanism: CKM.CKM_AES_ECB };
    return Buffer.from(
      p11(`C_Encrypt with '${target.label}' (${mechanismName(mech.mechanism)})`, () => {
        this.pkcs11.C_EncryptInit(this.handle, mech, target.handle);
        return this.pkcs11.C_Encrypt(this.handle, data, Buffer.alloc(data.length + 16));
      }),
    );
  }

  /** HMAC with a secret target (CKM_SHA256_HMAC unless told otherwise; CKM_HMAC maps hashes to mechanisms). */
  hmac(target: TargetKey, data: Buffer, mechanism: number = CKM.CKM_SHA256_HMAC): Buffer {
    return this.sign(target, mechanism, data);
  }

  /** Session objects (CKA_TOKEN=false) visible to this session: what a leak check counts. */
  sessionObjectHandles(): Buffer[] {
    return this.findObjects([{ type: CKA.CKA_TOKEN, value: false }]);
  }

  /** Reads public attributes of an object (tests and verifiers); sensitive ones come back undefined. */
  readAttributes(handle: Buffer, types: readonly number[]): (Buffer | undefined)[] {
    return types.map((type) => this.optionalAttribute(handle, type));
  }

  /** Destroys the session objects we made, logs out, closes. Idempotent; never throws. */
  close(): void {
    if (this.closed) return;
    for (const handle of [...this.sessionObjects.values()]) this.destroyQuietly(handle);
    const pkcs11 = this.module.pkcs11;
    this.closed = true;
    try {
      if (this.loggedIn) pkcs11.C_Logout(this.handle);
    } catch {
      // Best effort (e.g. CKR_USER_NOT_LOGGED_IN): closing the session below ends our use of the token anyway.
    }
    try {
      pkcs11.C_CloseSession(this.handle);
    } catch {
      // already closed by the module (C_CloseAllSessions / C_Finalize)
    }
    this.onClose();
  }

  // ---- internals ----

  private wrapIo(): WrapIo {
    return {
      pkcs11: this.pkcs11,
      session: this.handle,
      track: (handle) => this.track(handle),
      destroyQuietly: (handle) => this.destroyQuietly(handle),
    };
  }

  private track(handle: Buffer): void {
    this.sessionObjects.set(handleKey(handle), handle);
  }

  private destroyQuietly(handle: Buffer): void {
    try {
      this.module.pkcs11.C_DestroyObject(this.handle, handle);
      this.sessionObjects.delete(handleKey(handle));
    } catch (err) {
      // Already gone counts as destroyed; anything else stays tracked so close() tries again.
      if (ckrOf(err) === CKR_OBJECT_HANDLE_INVALID) this.sessionObjects.delete(handleKey(handle));
    }
  }

  private findObjects(template: pkcs11js.Template): Buffer[] {
    const pkcs11 = this.pkcs11;
    return p11('C_FindObjects', () => {
      pkcs11.C_FindObjectsInit(this.handle, template);
      try {
        const all: Buffer[] = [];
        for (;;) {
          const batch = pkcs11.C_FindObjects(this.handle, 64);
          if (batch.length === 0) return all;
          all.push(...batch);
        }
      } finally {
        pkcs11.C_FindObjectsFinal(this.handle);
      }
    });
  }

  private attributes(handle: Buffer, types: readonly number[]): (Buffer | undefined)[] {
    const result = p11('C_GetAttributeValue', () =>
      this.pkcs11.C_GetAttributeValue(
        this.handle,
        handle,
        types.map((type) => ({ type })),
      ),
    );
    return types.map((type) => result.find((a) => a.type === type)?.value);
  }

  /** One attribute, undefined when the object does not have it or it is sensitive. */
  private optionalAttribute(handle: Buffer, type: number): Buffer | undefined {
    try {
      const [attribute] = this.pkcs11.C_GetAttributeValue(this.handle, handle, [{ type }]);
      return attribute?.value;
    } catch (err) {
      const code = ckrOf(err);
      if (code === CKR_ATTRIBUTE_TYPE_INVALID || code === CKR_ATTRIBUTE_SENSITIVE) return undefined;
      throw toByokError(err, 'C_GetAttributeValue');
    }
  }

  private keyTypeOf(handle: Buffer): number {
    const [keyType] = this.attributes(handle, [CKA.CKA_KEY_TYPE]);
    return keyType ? readUlong(keyType) : -1;
  }

  /**
   * The public key object of a key pair: same CKA_ID first (the PKCS#11 convention), then same label. When
   * several share them, the one whose `match` attribute (modulus, curve) equals the private key's wins.
   */
  private findPublicHalf(found: FoundKey, match: number, value: Buffer | undefined): Buffer | undefined {
    const base = [
      { type: CKA.CKA_CLASS, value: CKO.CKO_PUBLIC_KEY },
      { type: CKA.CKA_KEY_TYPE, value: found.keyType },
    ];
    const candidates = [
      ...(found.id.length > 0 ? this.findObjects([...base, { type: CKA.CKA_ID, value: found.id }]) : []),
      ...this.findObjects([...base, { type: CKA.CKA_LABEL, value: found.label }]),
    ];
    if (value === undefined) return candidates[0];
    return candidates.find((handle) => this.optionalAttribute(handle, match)?.equals(value));
  }

  /** boulder's habit: after generating, read back and compare with what was asked. */
  private checkGenerated(
    key: TargetKey,
    spec: KeySpec,
    flags: ReadonlySet<TargetKeyFlag>,
    publicHandle: Buffer | undefined,
  ): void {
    const problems: string[] = [];
    if (!key.sensitive) problems.push('CKA_SENSITIVE is false');
    if (key.extractable !== flags.has('CKF_EXTRACTABLE'))
      problems.push(`CKA_EXTRACTABLE is ${key.extractable}`);
    if (key.token !== flags.has('CKF_TOKEN')) problems.push(`CKA_TOKEN is ${key.token}`);
    if (spec.kind === 'rsa') {
      const [exponent] = publicHandle
        ? this.attributes(publicHandle, [CKA.CKA_PUBLIC_EXPONENT])
        : [undefined];
      if (!exponent || !stripZeros(exponent).equals(RSA_PUBLIC_EXPONENT)) {
        problems.push('the public exponent is not 65537');
      }
      const details = key.publicKey?.asymmetricKeyDetails;
      if (details?.modulusLength !== spec.bits)
        problems.push(`the modulus has ${details?.modulusLength} bits`);
    }
    if (spec.kind === 'ec') {
      const [params] = publicHandle ? this.attributes(publicHandle, [CKA.CKA_EC_PARAMS]) : [undefined];
      if (!params || curveOfEcParams(params)?.name !== spec.curve.name) problems.push('the curve differs');
      if (!key.publicKey || !curveMatches(key.publicKey, spec.curve.nodeName)) {
        problems.push('the public point could not be read back');
      }
    }
    if (problems.length > 0) {
      throw new ByokError(
        'CKR_FUNCTION_FAILED',
        `the module generated a key that is not what was asked for ${describeKeySpec(spec)} '${key.label}': ` +
          `${problems.join(', ')}; the new key was destroyed`,
      );
    }
  }
}

function curveMatches(key: KeyObject, nodeName: string): boolean {
  return key.asymmetricKeyDetails?.namedCurve === nodeName;
}
