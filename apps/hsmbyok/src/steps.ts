/**
 * The steps of a drop-in run, shared by `--generate-and-wrap-target-key` and `--check`. Each logs what it
 * is about to do or did, so the output reads as the ceremony's script. Local inputs (config, KEK, output)
 * come first; the HSM is only opened once they are all valid, and nothing on it changes in these steps.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  ByokError,
  type CkrName,
  describeKeySpec,
  type HsmConfig,
  type Kek,
  type ParsedHsmConfig,
  parseHsmConfig,
  parseKekPem,
} from '@byok/core';
import type * as Hsm from '@byok/hsm-pkcs11';
import { assertNotDirectory } from './atomic-file.js';
import type { CommandContext } from './context.js';
import { assertPinLength, type PinIo, promptPin, readPinNonInteractive } from './pin.js';

/** The original's fixed file names, in the current directory. */
export const DEFAULT_CONFIG = 'HsmConfig.ini';
export const DEFAULT_KEK = 'kekBlob.pem';
export const DEFAULT_OUT = 'targetBlob.byok';

export interface LocalFile {
  /** Absolute path. */
  readonly path: string;
  /** As the original printed it (`./HsmConfig.ini`, `.\HsmConfig.ini` on Windows), or as given. */
  readonly display: string;
}

function localFile(ctx: CommandContext, given: string | undefined, fallback: string): LocalFile {
  if (given !== undefined) return { path: resolve(ctx.io.cwd, given), display: given };
  const sep = ctx.io.platform === 'win32' ? '\\' : '/';
  return { path: resolve(ctx.io.cwd, fallback), display: `.${sep}${fallback}` };
}

/**
 * Yields to the event loop first: PKCS#11 calls are synchronous, so a Ctrl-C that arrived during one is only
 * seen once pending signal callbacks have run.
 */
export async function throwIfAborted(ctx: CommandContext): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (!ctx.signal.aborted) return;
  const reason: unknown = ctx.signal.reason;
  throw reason instanceof ByokError ? reason : new ByokError('CKR_CANCEL', 'interrupted');
}

function readLocal(file: LocalFile, what: string, notFound: CkrName = 'CKR_FILE_NOT_FOUND'): Buffer {
  try {
    return readFileSync(file.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ByokError(notFound, `${file.display}: file not found (${what})`, { cause: error });
    }
    throw new ByokError('CKR_FILE_IO', `${file.display}: cannot read ${what} (${code ?? 'error'})`, {
      cause: error,
    });
  }
}

export interface ConfigInput {
  readonly file: LocalFile;
  readonly parsed: ParsedHsmConfig;
}

/** HsmConfig.ini, fully validated; one `INFO: ReadIni:` line per key, as the original printed. */
export function readConfig(ctx: CommandContext): ConfigInput {
  const file = localFile(ctx, ctx.options.config, DEFAULT_CONFIG);
  // The original reported a missing HsmConfig.ini like any other INI problem: CKR_ARGUMENTS_BAD.
  const text = readLocal(file, 'the HSM configuration', 'CKR_ARGUMENTS_BAD');
  const parsed = parseHsmConfig(text, { source: file.display });
  for (const entry of parsed.entries) {
    ctx.out.info(
      `ReadIni: ${file.display}: byok: ${entry.name}: "${entry.value}": ${Buffer.byteLength(entry.value, 'utf8')}`,
    );
  }
  for (const warning of parsed.warnings) ctx.out.warning(warning);
  return { file, parsed };
}

export interface KekInput {
  readonly file: LocalFile;
  readonly kek: Kek;
}

/** kekBlob.pem, read and checked before the HSM is opened (the original read it after generating the key). */
export function readKek(ctx: CommandContext): KekInput {
  const file = localFile(ctx, ctx.options.kek, DEFAULT_KEK);
  const kek = parseKekPem(readLocal(file, 'the KEK public key'), { source: file.display });
  ctx.out.info(
    `${file.display}: RSA-${kek.modulusBits} KEK public key, SHA-256 fingerprint ${kek.fingerprint}`,
  );
  return { file, kek };
}

export function outputFile(ctx: CommandContext): LocalFile {
  return localFile(ctx, ctx.options.out, DEFAULT_OUT);
}

/** For --check: whether the output could be written, without creating anything. */
export function probeOutput(file: LocalFile): { readonly exists: boolean } {
  try {
    assertNotDirectory(file.path);
    accessSync(dirname(file.path), constants.W_OK);
  } catch (error) {
    if (error instanceof ByokError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ByokError(
      code === 'ENOENT' ? 'CKR_FILE_NOT_FOUND' : 'CKR_FILE_IO',
      `${file.display}: cannot write into ${dirname(file.path)} (${code ?? 'error'})`,
      { cause: error },
    );
  }
  return { exists: existsSync(file.path) };
}

function pinIo(ctx: CommandContext): PinIo {
  return {
    env: ctx.io.env,
    cwd: ctx.io.cwd,
    // A getter: touching process.stdin builds its stream (and loads fs streams); only --pin-stdin reads it.
    get stdin() {
      return ctx.io.stdin;
    },
    platform: ctx.io.platform,
    prompt: { write: (text) => ctx.out.raw(text), open: ctx.io.openTerminal, signal: ctx.signal },
    warn: (message) => ctx.out.warning(message),
  };
}

/** --pin-env / --pin-file / --pin-stdin are read up front so a missing PIN fails before the HSM is touched. */
export async function prereadPin(ctx: CommandContext): Promise<string | undefined> {
  const pin = await readPinNonInteractive(ctx.options.pin, pinIo(ctx));
  if (pin !== undefined) {
    // Checked before it is registered for masking: masking a 2-character string would garble every line.
    assertPinLength(pin);
    ctx.out.addSecret(pin);
  }
  return pin;
}

/** The prompt comes after the token is found, as in the original: nobody types a PIN for a wrong library. */
export async function obtainPin(ctx: CommandContext, preread: string | undefined): Promise<string> {
  const pin = preread ?? (await promptPin(pinIo(ctx)));
  assertPinLength(pin);
  ctx.out.addSecret(pin);
  return pin;
}

/** Bare names (`libsofthsm2.so`, `cryptoki.dll`) go to the loader's search path; paths are relative to cwd. */
function libraryPath(ctx: CommandContext, name: string): string {
  if (isAbsolute(name) || !/[\\/]/.test(name)) return name;
  return resolve(ctx.io.cwd, name);
}

export type HsmLibrary = typeof Hsm;

/** The read-only HSM stages in order, for --check's table. */
export const HSM_STAGES = ['library', 'token', 'mechanisms'] as const;
export type HsmStage = (typeof HSM_STAGES)[number];

export interface OpenHsm {
  readonly hsm: HsmLibrary;
  readonly module: Hsm.Pkcs11Module;
  readonly token: Hsm.TokenInfo;
  readonly plan: Hsm.WrapPlan;
}

/**
 * Library, token, mechanisms and the wrap plan: all read-only. The PKCS#11 package (and with it pkcs11js and
 * koffi) is imported here and only here, so commands that never reach the HSM never load native code.
 * On failure the module is closed before the error propagates.
 */
export async function openHsm(
  ctx: CommandContext,
  config: HsmConfig,
  onStage: (stage: HsmStage, detail: string) => void = () => {},
): Promise<OpenHsm> {
  const hsm: HsmLibrary = await import('@byok/hsm-pkcs11');
  const path = libraryPath(ctx, config.libraryName);
  ctx.out.info(`loading PKCS#11 library ${path}`);
  ctx.out.flush(); // a network HSM's C_Initialize can take seconds
  const module = hsm.Pkcs11Module.load(path);
  try {
    const info = module.info();
    const library = `${info.manufacturer}, ${info.description} ${info.version} (Cryptoki ${info.cryptokiVersion})`;
    ctx.out.info(`PKCS#11 library: ${library}`);
    onStage('library', library);
    const token = module.findToken(config.tokenLabel);
    const tokenText =
      `slot ${token.slotId}, ${token.manufacturer} ${token.model}, serial ${token.serialNumber}, ` +
      `firmware ${token.firmware}`;
    ctx.out.info(`token "${token.label}": ${tokenText}`);
    onStage('token', tokenText);
    const mechanisms = module.mechanisms(token.slotId);
    const plan = hsm.planWrap(mechanisms, config.wrapMethod, config.targetKeySpec);
    ctx.out.info(`wrap method (${plan.kind}): ${plan.description}`);
    onStage('mechanisms', `${plan.kind}: ${plan.description}`);
    return { hsm, module, token, plan };
  } catch (error) {
    module.close();
    throw error;
  }
}

export function login(ctx: CommandContext, session: Hsm.HsmSession, token: Hsm.TokenInfo, pin: string): void {
  ctx.out.info(`logging in to token "${token.label}" as Crypto-Officer (CKU_USER)`);
  ctx.out.flush();
  session.login(pin);
  ctx.out.info('logged in');
}

/** What the run will wrap: an existing key, or one to generate once every check has passed. */
export type TargetPlan =
  | { readonly kind: 'existing'; readonly key: Hsm.TargetKey }
  | { readonly kind: 'generate'; readonly label: string };

/** Finds targetKeyName whatever its CKA_PRIVATE (the original saw private objects only). */
export function locateTarget(ctx: CommandContext, session: Hsm.HsmSession, config: HsmConfig): TargetPlan {
  const label = config.targetKeyName;
  const spec = describeKeySpec(config.targetKeySpec);
  ctx.out.info(`looking for targetKeyName ${label} (${spec})`);
  const found = session.findTargetKeys(label);
  if (found.length > 1) {
    throw new ByokError(
      'CKR_MULTIPLE_OBJECTS',
      `found multiple objects with the same targetKeyName: ${label}`,
    );
  }
  const [one] = found;
  if (one) {
    const key = session.loadTargetKey(one, config.targetKeySpec);
    ctx.out.info(
      `targetKeyName found: ${label}: ${describeKeySpec(key.spec)}, CKA_TOKEN=${key.token}, CKA_PRIVATE=${key.private}, ` +
        `CKA_EXTRACTABLE=${key.extractable}, CKA_SENSITIVE=${key.sensitive}`,
    );
    return { kind: 'existing', key };
  }
  if (!config.targetKeyFlags.has('CKF_CREATE_IF_NOT_FOUND')) {
    throw new ByokError('CKR_OBJECT_NOT_FOUND', `targetKeyName not found: ${label}`);
  }
  if (!config.targetKeyFlags.has('CKF_TOKEN')) {
    // The original generated a session key here: the "successful" run left no key in the HSM.
    throw new ByokError(
      'CKR_TEMPLATE_INCONSISTENT',
      `targetKeyName not found: ${label}, and targetKeyFlags lacks CKF_TOKEN: the generated key would vanish ` +
        'when this run ends; add CKF_TOKEN',
    );
  }
  ctx.out.info(`targetKeyName ${label} is not on the token; CKF_CREATE_IF_NOT_FOUND: it will be generated`);
  return { kind: 'generate', label };
}

/** Partition policies (Luna) or mechanism flags and key attributes (others): one line per verdict. */
export function checkPolicies(
  ctx: CommandContext,
  open: OpenHsm,
  session: Hsm.HsmSession,
  config: HsmConfig,
  target: TargetPlan,
): Hsm.PolicyVerdict[] {
  const verdicts = open.hsm.checkWrapPolicies({
    module: open.module,
    token: open.token,
    session,
    spec: config.targetKeySpec,
    flags: config.targetKeyFlags,
    existing: target.kind === 'existing' ? target.key : undefined,
    plan: open.plan,
  });
  for (const v of verdicts) {
    const text = `policy ${v.subject}: ${v.status} (${v.detail})${v.status === 'fail' && v.fix ? `; fix: ${v.fix}` : ''}`;
    // A failure is reported once, by the error that stops the run; here it is one line of the script.
    if (v.status === 'warn') ctx.out.warning(text);
    else ctx.out.info(text);
  }
  return verdicts;
}
