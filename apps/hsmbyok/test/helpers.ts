/**
 * Test helpers: run the BUILT CLI (bin/hsmbyok.cjs -> dist/cli.cjs) as a subprocess in a throwaway working
 * directory against a throwaway SoftHSM, and inspect the token afterwards with tools independent of the
 * code under test (pkcs11-tool) or with @byok/hsm-pkcs11 in-process where a key must be used.
 */
import { execFile, spawn } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { KeySpec } from '@byok/core';
import { type HsmSession, Pkcs11Module, type TargetKey } from '@byok/hsm-pkcs11';
import {
  createSoftHsm,
  DEFAULT_USER_PIN,
  generateKekPair,
  type KekPair,
  requireTool,
  type SoftHsm,
  writeKekPem,
} from '@byok/testkit';
import pkcs11js from 'pkcs11js';

const execFileAsync = promisify(execFile);

/**
 * The launcher's compile cache (bin/hsmbyok.cjs) goes to a folder of this test process, never the user's
 * ~/.cache: every CLI run below uses it, as a custodian's runs do.
 */
const compileCache = mkdtempSync(join(tmpdir(), 'hsmbyok-test-cache-'));
process.env.XDG_CACHE_HOME = compileCache;
delete process.env.HSMBYOK_COMPILE_CACHE;
process.on('exit', () => rmSync(compileCache, { recursive: true, force: true }));

export const BIN = fileURLToPath(new URL('../bin/hsmbyok.cjs', import.meta.url));
export const DIST_CLI = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
export const OPTION = '--generate-and-wrap-target-key';
export const TOKEN = 'byok';
export const PIN = DEFAULT_USER_PIN;

export function assertBuilt(): void {
  if (!existsSync(DIST_CLI)) {
    throw new Error(`${DIST_CLI} is missing: build first (pnpm turbo run build --filter @byok/hsmbyok)`);
  }
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/**
 * Spawns `node bin/hsmbyok.cjs args` in `cwd`. `detached` puts it in a new session without a controlling
 * terminal, so a prompt can never block on the terminal of whoever runs the tests.
 */
export function runHsmbyok(
  args: readonly string[],
  opts: { cwd: string; env?: Record<string, string | undefined>; input?: string; nodeArgs?: string[] },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
      cwd: opts.cwd,
      env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ stdout, stderr, exitCode: code ?? (signal ? 128 : -1) }));
  });
}

export interface ConfigValues {
  libraryName: string;
  tokenLabel: string;
  wrappingCiphers: string;
  SchemaVersion: string;
  kid: string;
  targetKeyName: string;
  targetKeySpec: string;
  targetKeyFlags: string;
}

export const KID = 'https://myvault.vault.azure.net/keys/mykek/fedcba9876abcdef';

export const ALL_FLAGS =
  'CKF_ENCRYPT, CKF_DECRYPT, CKF_SIGN, CKF_VERIFY, CKF_TOKEN, CKF_EXTRACTABLE, CKF_CREATE_IF_NOT_FOUND';

export function defaultConfig(libraryName: string, overrides: Partial<ConfigValues> = {}): ConfigValues {
  return {
    libraryName,
    tokenLabel: TOKEN,
    wrappingCiphers: 'CKG_MGF1_SHA1, CKM_AES_KWP',
    SchemaVersion: '1.0.0',
    kid: KID,
    targetKeyName: 'target-key',
    targetKeySpec: 'CKK_RSA, 2048, none',
    targetKeyFlags: ALL_FLAGS,
    ...overrides,
  };
}

const QUOTED: ReadonlySet<keyof ConfigValues> = new Set([
  'libraryName',
  'tokenLabel',
  'SchemaVersion',
  'kid',
  'targetKeyName',
]);

/** HsmConfig.ini in the documented style (Example 1 of the original's DOCS), minus `omit`. */
export function configText(values: ConfigValues, omit: readonly (keyof ConfigValues)[] = []): string {
  const lines = ['; test HsmConfig.ini', '[ byok ]'];
  for (const [name, value] of Object.entries(values) as [keyof ConfigValues, string][]) {
    if (omit.includes(name)) continue;
    lines.push(QUOTED.has(name) ? `${name} = "${value}"` : `${name} = ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface Fixture {
  readonly softhsm: SoftHsm;
  readonly kek: KekPair;
  /** Environment for the CLI: SOFTHSM2_CONF and the PIN in HSMBYOK_TEST_PIN (used with --pin-env). */
  readonly env: Record<string, string>;
  /** A fresh working directory holding kekBlob.pem and HsmConfig.ini made from `config`. */
  workdir(config?: Partial<ConfigValues>, opts?: { kek?: boolean }): Promise<string>;
  cleanup(): Promise<void>;
}

export const PIN_ENV = 'HSMBYOK_TEST_PIN';
export const PIN_ARGS = ['--pin-env', PIN_ENV] as const;

export async function createFixture(
  opts: { libraryName?: string; extraEnv?: Record<string, string> } = {},
): Promise<Fixture> {
  assertBuilt();
  const softhsm = await createSoftHsm();
  await softhsm.initToken(TOKEN);
  const kek = generateKekPair(2048);
  const libraryName = opts.libraryName ?? softhsm.libraryPath;
  return {
    softhsm,
    kek,
    env: { ...softhsm.env, [PIN_ENV]: PIN, ...opts.extraEnv },
    async workdir(config = {}, workdirOpts = {}) {
      const dir = await mkdtemp(join(softhsm.dir, 'work-'));
      await writeFile(join(dir, 'HsmConfig.ini'), configText(defaultConfig(libraryName, config)));
      if (workdirOpts.kek !== false) await writeKekPem(dir, kek);
      return dir;
    },
    cleanup: () => softhsm.cleanup(),
  };
}

export interface TokenObject {
  readonly kind: 'private' | 'public' | 'secret' | 'other';
  readonly label: string;
}

/** Objects on the token as pkcs11-tool sees them after login: independent of the code under test. */
export async function listObjects(fx: Fixture): Promise<TokenObject[]> {
  const tool = requireTool('pkcs11-tool');
  const { stdout } = await execFileAsync(
    tool,
    ['--module', fx.softhsm.libraryPath, '--token-label', TOKEN, '--login', '--pin', PIN, '--list-objects'],
    { env: { ...process.env, ...fx.softhsm.env } },
  );
  const objects: TokenObject[] = [];
  let kind: TokenObject['kind'] | undefined;
  for (const line of stdout.split('\n')) {
    const head = /^(Private Key|Public Key|Secret Key|\S.*) Object/.exec(line);
    if (head) {
      kind =
        head[1] === 'Private Key'
          ? 'private'
          : head[1] === 'Public Key'
            ? 'public'
            : head[1] === 'Secret Key'
              ? 'secret'
              : 'other';
      continue;
    }
    const label = /^\s+label:\s+(.*)$/.exec(line);
    if (label && kind) objects.push({ kind, label: (label[1] ?? '').trim() });
  }
  return objects;
}

export async function objectsLabelled(fx: Fixture, label: string): Promise<TokenObject[]> {
  return (await listObjects(fx)).filter((o) => o.label === label);
}

/**
 * Opens the fixture's token in this process. SoftHSM reads SOFTHSM2_CONF at C_Initialize, so it is set
 * first; the module is closed (C_Finalize) afterwards so the next fixture starts clean.
 */
export async function withSession<T>(fx: Fixture, use: (session: HsmSession) => T | Promise<T>): Promise<T> {
  process.env.SOFTHSM2_CONF = fx.softhsm.confPath;
  const module = Pkcs11Module.load(fx.softhsm.libraryPath);
  let session: HsmSession | undefined;
  try {
    const token = module.findToken(TOKEN);
    session = module.openSession(token.slotId);
    session.login(PIN);
    return await use(session);
  } finally {
    // Sessions first: Pkcs11Module.close() marks itself closed before closing its sessions.
    session?.close();
    module.close();
  }
}

/** The target key as the HSM has it (public key read from the token), for comparing with the blob. */
export async function hsmPublicKey(fx: Fixture, label: string, spec: KeySpec): Promise<KeyObject> {
  return withSession(fx, (session) => {
    const [found, ...more] = session.findTargetKeys(label);
    if (!found || more.length > 0)
      throw new Error(`expected one key '${label}', found ${more.length + (found ? 1 : 0)}`);
    const key: TargetKey = session.loadTargetKey(found, spec);
    if (!key.publicKey) throw new Error(`no public key readable for '${label}'`);
    return key.publicKey;
  });
}

/** Encrypts one block with the HSM's AES target (ECB), to compare with the unwrapped key in software. */
export async function hsmAesEncrypt(
  fx: Fixture,
  label: string,
  spec: KeySpec,
  block: Buffer,
): Promise<Buffer> {
  return withSession(fx, (session) => {
    const [found] = session.findTargetKeys(label);
    if (!found) throw new Error(`no key '${label}'`);
    return session.encryptAes(session.loadTargetKey(found, spec), undefined, block);
  });
}

const CKO_PRIVATE_KEY = 3;
const CKO_PUBLIC_KEY = 2;
const CKO_SECRET_KEY = 4;
const CKK_RSA = 0;
const CKK_AES = 0x1f;
const CKM_AES_KEY_GEN = 0x1080;
const CKM_RSA_PKCS_KEY_PAIR_GEN = 0;

/**
 * Creates a key with exactly the attributes a test needs (CKA_PRIVATE=false, not extractable, a duplicate
 * label), through pkcs11js directly: the code under test would refuse to make such keys.
 */
export async function makeKey(
  fx: Fixture,
  key: { label: string; kind: 'aes' | 'rsa'; bits: number; private: boolean; extractable: boolean },
): Promise<void> {
  process.env.SOFTHSM2_CONF = fx.softhsm.confPath;
  const p11 = new pkcs11js.PKCS11();
  p11.load(fx.softhsm.libraryPath);
  p11.C_Initialize();
  try {
    const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === TOKEN);
    if (!slot) throw new Error('token not found');
    const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p11.C_Login(session, pkcs11js.CKU_USER, PIN);
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: key.label },
      { type: pkcs11js.CKA_ID, value: Buffer.from(key.label) },
    ];
    const secret = [
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: key.private },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: key.extractable },
    ];
    if (key.kind === 'aes') {
      p11.C_GenerateKey(session, { mechanism: CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: key.bits / 8 },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        ...secret,
      ]);
    } else {
      p11.C_GenerateKeyPair(
        session,
        { mechanism: CKM_RSA_PKCS_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_CLASS, value: CKO_PUBLIC_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: CKK_RSA },
          { type: pkcs11js.CKA_MODULUS_BITS, value: key.bits },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          { type: pkcs11js.CKA_VERIFY, value: true },
          ...common,
        ],
        [
          { type: pkcs11js.CKA_CLASS, value: CKO_PRIVATE_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: CKK_RSA },
          { type: pkcs11js.CKA_SIGN, value: true },
          ...secret,
        ],
      );
    }
    p11.C_Logout(session);
    p11.C_CloseSession(session);
  } finally {
    p11.C_Finalize();
    p11.close();
  }
}

/** Files in `dir` other than the inputs: what a run left behind (output, temporary files, backups). */
export function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => f !== 'HsmConfig.ini' && f !== 'kekBlob.pem');
}

/** Lines starting with `ERROR:`. */
export function errorLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('ERROR:'));
}

export function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines[lines.length - 1] ?? '';
}
