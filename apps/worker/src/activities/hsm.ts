/**
 * HSM activities: thin adapters over @byok/hsm-pkcs11. Each opens its own session (a worker may restart
 * between steps) on the profile's library, which stays loaded and logged in for the worker's lifetime (see
 * ProfileHandle), and closes it whatever happens. Failures a retry cannot fix (wrong PIN, which a retry would lock; missing key; policy)
 * are non-retryable, each with its stable code as the failure type.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  ByokError,
  findCurve,
  type KeySpec,
  parseKekPem,
  spkiFingerprint,
  type TargetKeyFlag,
} from '@byok/core';
import { type CeremonyKeySpec, canonicalJson, verifyQuorumRecord } from '@byok/core/ceremony';
import type { HsmSession, KekHandle, Pkcs11Module, TargetKey, TokenInfo } from '@byok/hsm-pkcs11';
import { ApplicationFailure } from '@temporalio/common';
import { type HsmProfile, readSecret, type WorkerConfig } from '../config.js';
import type { HsmActivities, HsmPreflight, HsmStepInput, WrapInput, WrappedKey } from './types.js';

/** Errors a retry only makes worse or cannot change. Anything else (device busy, I/O) may be retried. */
const FINAL_CODES = new Set([
  'CKR_PIN_INCORRECT',
  'CKR_PIN_INVALID',
  'CKR_PIN_LEN_RANGE',
  'CKR_PIN_EXPIRED',
  'CKR_PIN_LOCKED',
  'CKR_TOKEN_NOT_FOUND',
  'CKR_OBJECT_NOT_FOUND',
  'CKR_MULTIPLE_OBJECTS',
  'CKR_KEY_TYPE_INCONSISTENT',
  'CKR_KEY_UNEXTRACTABLE',
  'CKR_KEY_NOT_WRAPPABLE',
  'CKR_MECHANISM_INVALID',
  'CKR_MECHANISM_PARAM_INVALID',
  'CKR_POLICY_VIOLATION',
  'CKR_LOAD_LIBRARY',
  'CKR_LOAD_LIBRARY_SYMBOL',
  'CKR_ARGUMENTS_BAD',
  'HSM_PROFILE_UNKNOWN',
  'SECRET_UNAVAILABLE',
]);

/**
 * What a ceremony-generated key may do, one line each. The cloud copy is the one used; the HSM copy is the
 * custodian's backup and the verify step's reference, so it gets the same usages and nothing more.
 */
function generationFlags(key: CeremonyKeySpec): ReadonlySet<TargetKeyFlag> {
  const flags: TargetKeyFlag[] = [
    'CKF_TOKEN', // a session key would vanish when the activity's session closes, after a "successful" import
    'CKF_EXTRACTABLE', // wrappable at all (only ever under a KEK: CKA_SENSITIVE stays set by keygen)
  ];
  if (key.kind === 'aes')
    flags.push('CKF_ENCRYPT', 'CKF_DECRYPT'); // the cloud's usages for imported AES keys
  else flags.push('CKF_SIGN', 'CKF_VERIFY'); // enables the test-signature verification against the cloud copy
  return new Set(flags);
}

export function toKeySpec(key: CeremonyKeySpec): KeySpec {
  if (key.kind !== 'ec') return key;
  const curve = findCurve(key.curve);
  if (!curve) throw new ByokError('CKR_ARGUMENTS_BAD', `unknown curve ${key.curve}`);
  return { kind: 'ec', bits: key.bits, curve };
}

/** Rethrows as a Temporal failure: ByokError code -> failure type; final codes are non-retryable. */
function asFailure(err: unknown): never {
  if (err instanceof ApplicationFailure) throw err;
  if (err instanceof ByokError) {
    throw ApplicationFailure.create({
      type: err.code,
      message: err.message,
      nonRetryable: FINAL_CODES.has(err.code),
    });
  }
  throw err;
}

type Pkcs11Lib = typeof import('@byok/hsm-pkcs11');

export interface Opened {
  readonly lib: Pkcs11Lib;
  readonly module: Pkcs11Module;
  readonly token: TokenInfo;
  readonly session: HsmSession;
}

/**
 * `HsmSession.wrapRsaOaep` (direct RSA-OAEP of a secret key, for AWS RSAES_OAEP_*) is being added to
 * @byok/hsm-pkcs11; until a build has it, an AWS symmetric import is refused with a clear code.
 */
interface OaepWrapCapable {
  wrapRsaOaep(target: TargetKey, kek: KekHandle, oaepHash: 'sha1' | 'sha256'): Buffer;
}

function canOaepWrap(session: HsmSession): session is HsmSession & OaepWrapCapable {
  return typeof (session as Partial<OaepWrapCapable>).wrapRsaOaep === 'function';
}

/**
 * One loaded library and one logged-in "anchor" session per HSM profile, for the worker's lifetime. Loading
 * the library (C_Initialize reads the whole token on SoftHSM; a network HSM connects) and logging in cost more
 * than most steps, and every activity of every ceremony needs them. Activities open their own sessions on
 * top: the anchor keeps the token logged in, so their C_Login answers CKR_USER_ALREADY_LOGGED_IN and their
 * close never logs the token out under a concurrent activity. A failure that means the library or session
 * state is gone drops the handle, and the retry loads afresh.
 */
interface ProfileHandle {
  readonly module: Pkcs11Module;
  readonly token: TokenInfo;
  readonly anchor: HsmSession;
  /** SHA-256 of the PIN the token was logged in with: the token has one user PIN, C_Login checked it. */
  readonly pinDigest: Buffer;
}

const profileHandles = new Map<string, ProfileHandle>();

/** CKR codes after which the loaded library or its login cannot be trusted any more. */
const STALE_HANDLE_CODES = new Set([
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_GENERAL_ERROR',
]);

function handleKey(profile: HsmProfile): string {
  return `${profile.library}\u0000${profile.tokenLabel}`;
}

function dropProfileHandle(key: string): void {
  const handle = profileHandles.get(key);
  if (!handle) return;
  profileHandles.delete(key);
  try {
    handle.anchor.close();
  } finally {
    handle.module.close();
  }
}

/** Closes every profile's anchor session and library: on worker shutdown, and between tests. */
export function closeHsmProfiles(): void {
  for (const key of [...profileHandles.keys()]) {
    try {
      dropProfileHandle(key);
    } catch {
      // shutting down: the process exit releases what is left
    }
  }
}

/**
 * Handles are per library and token, not per profile: PKCS#11 login state belongs to the token, so two
 * profiles naming one token share its login, and a profile presenting another PIN than the one C_Login
 * accepted is refused here (it would otherwise ride on the other profile's login unchecked).
 */
function profileHandle(lib: Pkcs11Lib, profile: HsmProfile, pin: string): ProfileHandle {
  const key = handleKey(profile);
  const pinDigest = createHash('sha256').update(pin, 'utf8').digest();
  const known = profileHandles.get(key);
  if (known) {
    if (!timingSafeEqual(known.pinDigest, pinDigest)) {
      throw new ByokError(
        'CKR_PIN_INCORRECT',
        `the PIN of HSM profile ${profile.name} is not the one token '${profile.tokenLabel}' is logged in with`,
      );
    }
    return known;
  }
  const module = lib.Pkcs11Module.load(profile.library);
  try {
    const token = module.findToken(profile.tokenLabel);
    const anchor = module.openSession(token.slotId);
    anchor.login(pin);
    const handle = { module, token, anchor, pinDigest };
    profileHandles.set(key, handle);
    return handle;
  } catch (err) {
    module.close(); // closes the anchor session too
    throw err;
  }
}

/** A logged-in session on the profile's token for one activity, closed whatever happens. */
export async function withHsmSession<T>(
  config: WorkerConfig,
  input: HsmStepInput,
  use: (opened: Opened) => T | Promise<T>,
): Promise<T> {
  const profile = config.hsmProfiles[input.hsm.profile];
  if (!profile) {
    const known = Object.keys(config.hsmProfiles).join(', ') || 'none';
    throw ApplicationFailure.create({
      type: 'HSM_PROFILE_UNKNOWN',
      message: `HSM profile '${input.hsm.profile}' is not in this worker's config (profiles: ${known})`,
      nonRetryable: true,
    });
  }
  // Loaded on first use: a worker without HSM profiles never loads the native PKCS#11 addon.
  const lib = await import('@byok/hsm-pkcs11');
  let session: HsmSession | undefined;
  try {
    const pin = readSecret(profile.pin, `PIN of HSM profile ${profile.name}`);
    const { module, token } = profileHandle(lib, profile, pin);
    // Logged in through the anchor: this session needs no C_Login, and its close logs nothing out.
    session = module.openSession(token.slotId);
    return await use({ lib, module, token, session });
  } catch (err) {
    if (err instanceof ByokError && STALE_HANDLE_CODES.has(err.code)) {
      session?.close();
      session = undefined;
      dropProfileHandle(handleKey(profile));
    }
    return asFailure(err);
  } finally {
    session?.close();
  }
}

/**
 * The approvals, verified again here (outside the workflow and its sandbox) before a key is generated or
 * wrapped: the definition must be this step's ceremony, and its recorded decisions must make the quorum from
 * scratch (digest recomputed, every signature checked, eligibility, duplicates, window). Non-retryable.
 */
function checkApprovals(input: WrapInput): void {
  const { definition, openedAt, decisions } = input.approvals ?? {};
  const same =
    definition !== undefined &&
    definition.ceremonyId === input.ceremonyId &&
    canonicalJson({ hsm: definition.hsm, key: definition.key }) ===
      canonicalJson({ hsm: input.hsm, key: input.key });
  if (!same) {
    throw ApplicationFailure.create({
      type: 'APPROVALS_MISMATCH',
      message: `the approvals given to the wrap step are not those of ceremony ${input.ceremonyId}`,
      nonRetryable: true,
    });
  }
  try {
    verifyQuorumRecord(definition, openedAt ?? 0, decisions ?? []);
  } catch (err) {
    if (err instanceof ByokError) {
      throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
    }
    throw err;
  }
}

export function createHsmActivities(config: WorkerConfig): HsmActivities {
  async function withSession<T>(input: HsmStepInput, use: (opened: Opened) => T): Promise<T> {
    return withHsmSession(config, input, use);
  }
  return {
    async preflightHsm(input: HsmStepInput): Promise<HsmPreflight> {
      return withSession(input, ({ lib, module, token, session }) => {
        const spec = toKeySpec(input.key);
        const found = session.findTargetKey(input.hsm.keyLabel);
        if (!found && !input.hsm.createIfMissing) {
          throw new ByokError(
            'CKR_OBJECT_NOT_FOUND',
            `no key labelled '${input.hsm.keyLabel}' on token '${token.label}' and hsm.createIfMissing is false`,
          );
        }
        const existing = found ? session.loadTargetKey(found, spec) : undefined;
        // The OAEP hash is known only once the cloud has answered, so the full wrap plan is checked in
        // wrapTargetKey; here: partition policies and key attributes, which need no plan.
        const verdicts = lib.checkWrapPolicies({
          module,
          token,
          session,
          spec,
          flags: generationFlags(input.key),
          ...(existing ? { existing } : {}),
        });
        lib.assertPolicies(verdicts);
        const checks = verdicts.map((v) => ({
          id: v.id,
          status: v.status === 'skip' ? ('pass' as const) : v.status,
          detail: `${v.subject}: ${v.detail}`,
        }));
        return {
          tokenLabel: token.label,
          tokenSerial: token.serialNumber,
          firmware: token.firmware,
          keyExisted: existing !== undefined,
          ...(existing?.publicKey ? { existingKeySpkiSha256: spkiFingerprint(existing.publicKey) } : {}),
          checks,
        };
      });
    },

    async wrapTargetKey(input: WrapInput): Promise<WrappedKey> {
      checkApprovals(input);
      const profile = config.hsmProfiles[input.hsm.profile];
      return withSession(input, ({ lib, module, token, session }) => {
        const spec = toKeySpec(input.key);
        const kek = parseKekPem(input.wrap.kekPem, { source: 'cloud KEK' });
        if (kek.fingerprint !== input.wrap.kekFingerprint) {
          throw ApplicationFailure.nonRetryable(
            `the KEK PEM has fingerprint ${kek.fingerprint}, not the prepared ${input.wrap.kekFingerprint}`,
            'PREPARATION_MISMATCH',
          );
        }
        const oaepHash = input.wrap.oaepHash;
        const flags = generationFlags(input.key);
        // Idempotent: a retry finds the key an earlier attempt generated (by the ceremony's label) instead
        // of making a second one.
        const found = session.findTargetKey(input.hsm.keyLabel);
        const existing = found ? session.loadTargetKey(found, spec) : undefined;
        if (!existing && !input.hsm.createIfMissing) {
          throw new ByokError(
            'CKR_OBJECT_NOT_FOUND',
            `no key labelled '${input.hsm.keyLabel}' on token '${token.label}'`,
          );
        }
        let wrapOnce: (target: TargetKey) => Buffer;
        let description: string;
        if (input.wrap.format === 'rsa-oaep') {
          // AWS RSAES_OAEP_*: the raw secret key OAEP-encrypted under the wrapping key, nothing else.
          if (spec.kind !== 'aes') {
            throw ApplicationFailure.nonRetryable(
              `RSA-OAEP wraps secret keys only, not ${spec.kind.toUpperCase()} keys`,
              'UNSUPPORTED_WRAPPING_ALGORITHM',
            );
          }
          if (!canOaepWrap(session)) {
            throw ApplicationFailure.nonRetryable(
              'this build of @byok/hsm-pkcs11 has no HsmSession.wrapRsaOaep; AWS symmetric imports need it',
              'OAEP_WRAP_UNAVAILABLE',
            );
          }
          lib.assertPolicies(
            lib.checkWrapPolicies({ module, token, session, spec, flags, ...(existing ? { existing } : {}) }),
          );
          wrapOnce = (target) => session.wrapRsaOaep(target, session.importKek(kek), oaepHash);
          description = `CKM_RSA_PKCS_OAEP (${oaepHash.toUpperCase()}, MGF1 ${oaepHash.toUpperCase()}) of the raw key`;
        } else {
          const method =
            profile?.wrap === 'one-step'
              ? ({ kind: 'one-step', oaepHash } as const)
              : ({ kind: 'two-step', oaepHash, kwpName: 'CKM_AES_KEY_WRAP_KWP' } as const);
          // Planned and policy-checked before anything is generated: a refusal leaves the token untouched.
          const plan = lib.planWrap(module.mechanisms(token.slotId), method, spec);
          lib.assertPolicies(
            lib.checkWrapPolicies({
              module,
              token,
              session,
              spec,
              flags,
              ...(existing ? { existing } : {}),
              plan,
            }),
          );
          wrapOnce = (target) => session.wrap(target, session.importKek(kek), plan);
          description = plan.description;
        }
        const target = existing ?? session.generateTargetKey(input.hsm.keyLabel, spec, flags);
        const ciphertext = wrapOnce(target);
        return {
          ciphertext: ciphertext.toString('base64url'),
          ciphertextSha256: createHash('sha256').update(ciphertext).digest('hex'),
          keyLabel: input.hsm.keyLabel,
          generated: target.generated || !input.keyExisted,
          ...(target.publicKey ? { publicKeySpkiSha256: spkiFingerprint(target.publicKey) } : {}),
          wrapDescription: description,
        };
      });
    },

    async destroyGeneratedKey(input: HsmStepInput): Promise<void> {
      await withSession(input, ({ session }) => {
        const found = session.findTargetKey(input.hsm.keyLabel);
        if (!found) return; // already gone: compensations must be idempotent
        const target = session.loadTargetKey(found, toKeySpec(input.key));
        session.destroyTargetKey(target);
      });
    },
  };
}
