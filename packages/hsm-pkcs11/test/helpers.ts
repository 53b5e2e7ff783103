/** Shared set-up for the SoftHSM-backed tests: one throwaway SoftHSM per test file (vitest forks per file). */
import { type EcCurve, findCurve, type KeySpec, type TargetKeyFlag } from '@byok/core';
import { createSoftHsm, type SoftHsm } from '@byok/testkit';
import type pkcs11js from 'pkcs11js';
import { CKA } from '../src/constants.js';
import { Pkcs11Module } from '../src/module.js';
import type { HsmSession } from '../src/session.js';
import type { TokenInfo } from '../src/types.js';

export interface SoftHsmFixture {
  readonly hsm: SoftHsm;
  readonly module: Pkcs11Module;
  readonly token: TokenInfo;
  readonly pin: string;
  /** A logged-in session on the token. */
  openLoggedIn(): HsmSession;
  close(): Promise<void>;
}

/** SoftHSM reads SOFTHSM2_CONF in C_Initialize: the env is set before the module is loaded. */
export async function softHsmFixture(labels: readonly string[] = ['byok-test']): Promise<SoftHsmFixture> {
  const hsm = await createSoftHsm();
  const tokens = [];
  for (const label of labels) tokens.push(await hsm.initToken(label));
  const first = tokens[0];
  if (!first) throw new Error('softHsmFixture needs at least one label');
  process.env.SOFTHSM2_CONF = hsm.env.SOFTHSM2_CONF;
  const module = Pkcs11Module.load(hsm.libraryPath);
  const token = module.findToken(first.label);
  return {
    hsm,
    module,
    token,
    pin: first.pin,
    openLoggedIn() {
      const session = module.openSession(token.slotId);
      session.login(first.pin);
      return session;
    },
    async close() {
      module.close();
      await hsm.cleanup();
    },
  };
}

export function curve(name: string): EcCurve {
  const found = findCurve(name);
  if (!found) throw new Error(`unknown curve ${name}`);
  return found;
}

export const RSA_2048: KeySpec = { kind: 'rsa', bits: 2048 };
export const RSA_3072: KeySpec = { kind: 'rsa', bits: 3072 };
export const AES_256: KeySpec = { kind: 'aes', bits: 256 };
export function ecSpec(name: string): KeySpec {
  const c = curve(name);
  return { kind: 'ec', bits: c.bits, curve: c };
}

export function flags(...list: TargetKeyFlag[]): ReadonlySet<TargetKeyFlag> {
  return new Set(list);
}

/** What the CLI's default config asks for: an exportable token key that can sign and verify. */
export const EXPORTABLE = flags('CKF_TOKEN', 'CKF_EXTRACTABLE', 'CKF_SIGN', 'CKF_VERIFY');

/** Attribute as a boolean (tests read CKA_* flags back from the token). */
export function bool(session: HsmSession, handle: Buffer, type: number): boolean | undefined {
  const [value] = session.readAttributes(handle, [type]);
  return value === undefined ? undefined : value[0] !== 0;
}

/**
 * Test-only: objects the API would never make (a CKA_PRIVATE=false secret key), created through a raw
 * session of the same library. Login state is per token and application, so it is already logged in.
 */
export function createRawSecretKey(
  fixture: SoftHsmFixture,
  label: string,
  extra: pkcs11js.Template = [],
): void {
  const p11 = fixture.module.pkcs11;
  const slot = p11.C_GetSlotList(true).find((s) => Number(s.readBigUInt64LE(0)) === fixture.token.slotId);
  if (!slot) throw new Error('slot not found');
  const session = p11.C_OpenSession(slot, 0x06);
  try {
    p11.C_GenerateKey(session, { mechanism: 0x1080 }, [
      { type: CKA.CKA_CLASS, value: 0x04 },
      { type: CKA.CKA_KEY_TYPE, value: 0x1f },
      { type: CKA.CKA_VALUE_LEN, value: 32 },
      { type: CKA.CKA_LABEL, value: label },
      { type: CKA.CKA_TOKEN, value: true },
      ...extra,
    ]);
  } finally {
    p11.C_CloseSession(session);
  }
}
