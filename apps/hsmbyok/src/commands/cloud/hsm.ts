/**
 * The HSM side of the cloud commands, made of the drop-in's own steps (steps.ts): HsmConfig.ini (libraryName,
 * tokenLabel, targetKeyName, targetKeySpec, targetKeyFlags), the PIN sources, library, token, login, the
 * target key, policies. Their INFO lines are details here (shown with --verbose); WARNINGs and the PIN
 * prompt always show. Nothing on the HSM changes until `materialise` (generation) and `wrap`.
 */
import { type CloudOaepHash, type HsmProof, type ImportPreparation, preparationKek } from '@byok/clouds';
import { ByokError, describeKeySpec, type HsmConfig, type KeySpec } from '@byok/core';
import type * as Hsm from '@byok/hsm-pkcs11';
import type { CommandContext } from '../../context.js';
import { Reporter, type TextSink } from '../../output.js';
import {
  checkPolicies,
  locateTarget,
  login,
  type OpenHsm,
  obtainPin,
  openHsm,
  prereadPin,
  readConfig,
  type TargetPlan,
} from '../../steps.js';
import { type CloudContext, flag, optional } from './context.js';

/** Drops the drop-in's INFO lines unless --verbose; everything else (WARNING, the prompt) goes through. */
class DetailSink implements TextSink {
  constructor(
    private readonly inner: TextSink,
    private readonly verbose: boolean,
  ) {}

  write(text: string): unknown {
    if (!this.verbose && text.startsWith('INFO: ')) return true;
    return this.inner.write(text);
  }

  flush(): void {
    this.inner.flush?.();
  }
}

export interface HsmSide {
  readonly config: HsmConfig;
  readonly configPath: string;
  readonly open: OpenHsm;
  readonly session: Hsm.HsmSession;
  readonly plan: TargetPlan;
  /** OAEP hashes this module can wrap with (SoftHSM: SHA-1 only). */
  readonly oaepHashes: readonly CloudOaepHash[];
  /** Closes the session (destroying its session objects: the imported KEK) and the module. */
  close(): void;
}

/** A drop-in CommandContext whose reporter shows details only with --verbose. */
function stepContext(ctx: CloudContext): CommandContext {
  const human = ctx.out.json ? ctx.io.stderr : ctx.io.stdout;
  const sink = new DetailSink(human, flag(ctx, 'verbose'));
  const config = optional(ctx, 'config');
  return {
    io: ctx.io,
    out: new Reporter(sink, sink, { json: false }),
    options: { ...(config !== undefined ? { config } : {}), pin: ctx.argv.pin, json: false },
    signal: ctx.signal,
  };
}

/** HsmConfig.ini alone (no HSM): for commands that only need the key spec. */
export function readHsmConfig(ctx: CloudContext): { config: HsmConfig; path: string } {
  const { file, parsed } = readConfig(stepContext(ctx));
  return { config: parsed.config, path: file.path };
}

/**
 * Config, PIN, library, token, login, target key (found or to generate), policies: everything checked, nothing
 * changed. `spec` overrides targetKeySpec (HMAC keys, which HsmConfig.ini cannot name). The wrap is planned
 * with OAEP SHA-1 here (what every cloud accepts); `wrap` re-plans with the hash the cloud asked for.
 */
export async function openHsmSide(
  ctx: CloudContext,
  spec?: KeySpec,
  opts: { readonly policies?: boolean } = {},
): Promise<HsmSide> {
  const step = stepContext(ctx);
  const { file, parsed } = readConfig(step);
  const base = parsed.config;
  if (spec && spec.kind !== 'hmac' && describeKeySpec(spec) !== describeKeySpec(base.targetKeySpec)) {
    throw new ByokError(
      'CKR_KEY_TYPE_INCONSISTENT',
      `${file.display} says targetKeySpec ${describeKeySpec(base.targetKeySpec)} but the command asks for ` +
        `${describeKeySpec(spec)}; make them agree`,
    );
  }
  const config: HsmConfig = {
    ...base,
    targetKeySpec: spec ?? base.targetKeySpec,
    wrapMethod: { ...base.wrapMethod, oaepHash: 'sha1' },
  };
  const preread = await prereadPin(step);
  const open = await openHsm(step, config);
  let session: Hsm.HsmSession | undefined;
  try {
    const pin = await obtainPin(step, preread);
    ctx.out.addSecret(pin);
    session = open.module.openSession(open.token.slotId);
    login(step, session, open.token, pin);
    const plan = locateTarget(step, session, config);
    if (opts.policies !== false) open.hsm.assertPolicies(checkPolicies(step, open, session, config, plan));
    const opened = session;
    return {
      config,
      configPath: file.path,
      open,
      session: opened,
      plan,
      oaepHashes: open.module.isSoftHsm ? ['sha1'] : ['sha1', 'sha256'],
      close: () => {
        opened.close();
        open.module.close();
      },
    };
  } catch (error) {
    session?.close();
    open.module.close();
    throw error;
  }
}

/** The target key, generated now if it was not on the token; `undo` destroys a generated one. */
export function materialise(ctx: CloudContext, side: HsmSide): { key: Hsm.TargetKey; undo: () => void } {
  if (side.plan.kind === 'existing') return { key: side.plan.key, undo: () => {} };
  ctx.out.warning(`targetKeyName not found - generating a new key: ${side.plan.label}`);
  ctx.out.flush(); // RSA-4096 takes seconds
  const key = side.session.generateTargetKey(
    side.plan.label,
    side.config.targetKeySpec,
    side.config.targetKeyFlags,
  );
  return {
    key,
    undo: () => {
      try {
        side.session.destroyTargetKey(key);
        ctx.out.warning(`destroyed the key generated in this run because a later step failed: ${key.label}`);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        ctx.out.warning(`could not destroy the key generated in this run: ${key.label} (${reason})`);
      }
    },
  };
}

/**
 * Wraps exactly as the preparation says: CKM_RSA_AES_KEY_WRAP (one- or two-step, with the preparation's OAEP
 * hash) or the direct RSA-OAEP wrap of a secret key (AWS RSAES_OAEP_*). The KEK is a session object.
 */
export function wrapForPreparation(side: HsmSide, key: Hsm.TargetKey, prep: ImportPreparation): Buffer {
  const kek = side.session.importKek(preparationKek(prep));
  if (prep.wrap.format === 'rsa-oaep') return side.session.wrapRsaOaep(key, kek, prep.wrap.oaepHash);
  const plan = side.open.hsm.planWrap(
    side.open.module.mechanisms(side.open.token.slotId),
    { ...side.config.wrapMethod, oaepHash: prep.wrap.oaepHash },
    key.spec,
  );
  return side.session.wrap(key, kek, plan);
}

/** The HSM's side of the cloud's verification: its public key, its HMAC, its AES-CBC. */
export function hsmProof(side: HsmSide, key: Hsm.TargetKey): HsmProof {
  return {
    ...(key.publicKey ? { publicKey: key.publicKey } : {}),
    hmac: (message, hash) => side.session.hmac(key, message, side.open.hsm.CKM_HMAC[hash]),
    encryptAesCbc: (iv, plaintext) => side.session.encryptAes(key, iv, plaintext),
  };
}

/** The HSM's key for `verify` commands: it must exist (nothing is generated). */
export function existingKey(side: HsmSide): Hsm.TargetKey {
  if (side.plan.kind !== 'existing') {
    throw new ByokError('CKR_OBJECT_NOT_FOUND', `targetKeyName not found: ${side.plan.label}`);
  }
  return side.plan.key;
}
