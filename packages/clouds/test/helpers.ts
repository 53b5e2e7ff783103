/**
 * Test fixtures: the emulators (real SDKs over the wire), a throwaway SoftHSM token driven by
 * @byok/hsm-pkcs11, and a few raw PKCS#11 calls hsm-pkcs11 does not offer (generic secret keys for HMAC,
 * RSA-OAEP wrapping of a secret key for AWS RSAES_OAEP_*).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCurve, type KeySpec, type TargetKeyFlag } from '@byok/core';
import {
  EMULATOR_AWS_CREDENTIALS,
  EMULATOR_TOKEN,
  type KeyVaultEmulator,
  type KmsEmulator,
  startKeyVaultEmulator,
  startKmsEmulator,
} from '@byok/emulators';
import {
  CKA,
  CKK,
  CKM,
  CKO,
  type HsmSession,
  Pkcs11Module,
  planWrap,
  type TargetKey,
  type TokenInfo,
} from '@byok/hsm-pkcs11';
import { createSoftHsm, type SoftHsm } from '@byok/testkit';
import pkcs11js from 'pkcs11js';
import {
  AwsKmsTarget,
  type AwsTargetExtras,
  AzureKeyVaultTarget,
  type AzureTargetExtras,
  type CloudKeySpec,
  type ImportPreparation,
  parseTargetConfig,
  preparationKek,
} from '../src/index.js';

export const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface AzureFixture {
  readonly kv: KeyVaultEmulator;
  readonly target: AzureKeyVaultTarget;
  /** A second target on the same emulator with extras (policies) of the test's choosing. */
  withExtras(extras: AzureTargetExtras): AzureKeyVaultTarget;
  close(): Promise<void>;
}

export async function azureFixture(mode: 'vault' | 'managedhsm'): Promise<AzureFixture> {
  const dir = await tempDir(`byok-clouds-kv-${mode}-`);
  const kv = await startKeyVaultEmulator({ stateDir: dir.path, mode });
  const config = parseTargetConfig({
    cloud: 'azure',
    vaultUrl: kv.url,
    managedHsm: mode === 'managedhsm',
    credential: { kind: 'static-token', token: EMULATOR_TOKEN },
    caCertPem: kv.caCertPem,
    disableChallengeResourceVerification: true,
    requestTimeoutMs: 1500,
    retry: FAST_RETRY,
  });
  if (config.cloud !== 'azure') throw new Error('unreachable');
  return {
    kv,
    target: new AzureKeyVaultTarget(config),
    withExtras: (extras) => new AzureKeyVaultTarget(config, extras),
    async close() {
      await kv.close();
      await dir.remove();
    },
  };
}

export interface AwsFixture {
  readonly kms: KmsEmulator;
  readonly target: AwsKmsTarget;
  withExtras(extras: AwsTargetExtras): AwsKmsTarget;
  close(): Promise<void>;
}

export async function awsFixture(): Promise<AwsFixture> {
  const dir = await tempDir('byok-clouds-kms-');
  const kms = await startKmsEmulator({ stateDir: dir.path, credentials: EMULATOR_AWS_CREDENTIALS });
  const config = parseTargetConfig({
    cloud: 'aws',
    region: kms.region,
    endpoint: kms.endpoint,
    credentials: { kind: 'static', ...EMULATOR_AWS_CREDENTIALS },
    requestTimeoutMs: 1500,
    retry: FAST_RETRY,
  });
  if (config.cloud !== 'aws') throw new Error('unreachable');
  const targets: AwsKmsTarget[] = [];
  const make = (extras?: AwsTargetExtras) => {
    const t = new AwsKmsTarget(config, extras);
    targets.push(t);
    return t;
  };
  return {
    kms,
    target: make(),
    withExtras: (extras) => make(extras),
    async close() {
      for (const t of targets) t.close();
      await kms.close();
      await dir.remove();
    },
  };
}

// ---- SoftHSM --------------------------------------------------------------------------------------------

export interface Hsm {
  readonly softhsm: SoftHsm;
  readonly module: Pkcs11Module;
  readonly token: TokenInfo;
  readonly session: HsmSession;
  /** A raw pkcs11js session on the same (logged-in) token, for calls hsm-pkcs11 does not offer. */
  readonly raw: Buffer;
  readonly p11: Pkcs11Module['pkcs11'];
  close(): Promise<void>;
}

const CKF_RW_SESSION = 0x2;
const CKF_SERIAL_SESSION = 0x4;

export async function softHsm(): Promise<Hsm> {
  const softhsm = await createSoftHsm();
  const { label, pin } = await softhsm.initToken('byok-clouds');
  // SoftHSM reads SOFTHSM2_CONF in C_Initialize.
  process.env.SOFTHSM2_CONF = softhsm.env.SOFTHSM2_CONF;
  const module = Pkcs11Module.load(softhsm.libraryPath);
  const token = module.findToken(label);
  const session = module.openSession(token.slotId);
  session.login(pin);
  const p11 = module.pkcs11;
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === label);
  if (!slot) throw new Error(`token ${label} not found by pkcs11js`);
  const raw = p11.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION);
  return {
    softhsm,
    module,
    token,
    session,
    raw,
    p11,
    async close() {
      try {
        p11.C_CloseSession(raw);
      } catch {
        // closed with the module
      }
      session.close();
      module.close();
      await softhsm.cleanup();
    },
  };
}

export function coreSpec(spec: CloudKeySpec): KeySpec {
  switch (spec.kind) {
    case 'rsa':
      return { kind: 'rsa', bits: spec.bits };
    case 'ec': {
      const curve = findCurve(spec.curve);
      if (!curve) throw new Error(`no curve ${spec.curve}`);
      return { kind: 'ec', bits: curve.bits, curve };
    }
    case 'aes':
      return { kind: 'aes', bits: spec.bits };
    case 'hmac':
      throw new Error('HMAC keys are generic secrets: use generateHmacKey');
  }
}

let counter = 0;
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/** A session (non-token) target key in SoftHSM: sensitive, extractable so it can be wrapped. */
export function generateTarget(hsm: Hsm, spec: CloudKeySpec, label = uniqueName('target')): TargetKey {
  const flags = new Set<TargetKeyFlag>(
    spec.kind === 'aes'
      ? ['CKF_EXTRACTABLE', 'CKF_ENCRYPT', 'CKF_DECRYPT']
      : ['CKF_EXTRACTABLE', 'CKF_SIGN', 'CKF_VERIFY'],
  );
  return hsm.session.generateTargetKey(label, coreSpec(spec), flags);
}

/** CKM_RSA_AES_KEY_WRAP in SoftHSM: two-step (OAEP SHA-1 + RFC 5649), the only hash SoftHSM's OAEP has. */
export function hsmWrap(hsm: Hsm, prep: ImportPreparation, target: TargetKey): Buffer {
  if (prep.wrap.format !== 'rsa-aes-key-wrap' || prep.wrap.oaepHash !== 'sha1') {
    throw new Error(`SoftHSM cannot do ${prep.wrap.format} with OAEP ${prep.wrap.oaepHash}`);
  }
  const kek = hsm.session.importKek(preparationKek(prep));
  const plan = planWrap(
    hsm.module.mechanisms(hsm.token.slotId),
    { kind: 'two-step', oaepHash: 'sha1', kwpName: 'CKM_AES_KWP' },
    target.spec,
  );
  try {
    return hsm.session.wrap(target, kek, plan);
  } finally {
    hsm.session.destroy(kek.handle);
  }
}

// ---- raw PKCS#11 (what hsm-pkcs11 does not offer yet) -------------------------------------------------------

const CKM_GENERIC_SECRET_KEY_GEN = 0x350;
export const CKM_HMAC: Readonly<Record<'sha224' | 'sha256' | 'sha384' | 'sha512', number>> = {
  sha224: 0x256,
  sha256: 0x251,
  sha384: 0x261,
  sha512: 0x271,
};
const CKM_SHA_1 = 0x220;
const CKG_MGF1_SHA1 = 0x1;
const CKZ_DATA_SPECIFIED = 0x1;
const CKA_VALUE_LEN = 0x161;
const CKA_EXTRACTABLE = 0x162;

/** A generic secret (HMAC) key of `bytes` bytes: sensitive, extractable, sign/verify. */
export function generateHmacKey(hsm: Hsm, bytes: number): Buffer {
  return hsm.p11.C_GenerateKey(hsm.raw, { mechanism: CKM_GENERIC_SECRET_KEY_GEN }, [
    { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
    { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_GENERIC_SECRET },
    { type: CKA_VALUE_LEN, value: bytes },
    { type: CKA.CKA_TOKEN, value: false },
    { type: CKA.CKA_SENSITIVE, value: true },
    { type: CKA_EXTRACTABLE, value: true },
    { type: CKA.CKA_SIGN, value: true },
  ]);
}

export function hsmHmac(hsm: Hsm, key: Buffer, hash: keyof typeof CKM_HMAC, message: Buffer): Buffer {
  hsm.p11.C_SignInit(hsm.raw, { mechanism: CKM_HMAC[hash] }, key);
  return Buffer.from(hsm.p11.C_Sign(hsm.raw, message, Buffer.alloc(128)));
}

/** AWS RSAES_OAEP_SHA_1: the secret key itself OAEP-wrapped under the wrapping key (SoftHSM: SHA-1 only). */
export function hsmOaepWrapSecret(hsm: Hsm, prep: ImportPreparation, secretKey: Buffer): Buffer {
  if (prep.wrap.format !== 'rsa-oaep' || prep.wrap.oaepHash !== 'sha1') {
    throw new Error(`SoftHSM cannot do ${prep.wrap.format} with OAEP ${prep.wrap.oaepHash}`);
  }
  const jwk = preparationKek(prep).publicKey.export({ format: 'jwk' });
  const kek = hsm.p11.C_CreateObject(hsm.raw, [
    { type: CKA.CKA_CLASS, value: CKO.CKO_PUBLIC_KEY },
    { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_RSA },
    { type: CKA.CKA_TOKEN, value: false },
    { type: CKA.CKA_WRAP, value: true },
    { type: CKA.CKA_MODULUS, value: Buffer.from(jwk.n ?? '', 'base64url') },
    { type: CKA.CKA_PUBLIC_EXPONENT, value: Buffer.from(jwk.e ?? '', 'base64url') },
  ]);
  try {
    const parameter: pkcs11js.RsaOAEP = {
      type: pkcs11js.CK_PARAMS_RSA_OAEP,
      hashAlg: CKM_SHA_1,
      mgf: CKG_MGF1_SHA1,
      source: CKZ_DATA_SPECIFIED,
    };
    const mechanism: pkcs11js.Mechanism = { mechanism: CKM.CKM_RSA_PKCS_OAEP, parameter };
    return Buffer.from(
      hsm.p11.C_WrapKey(hsm.raw, mechanism, kek, secretKey, Buffer.alloc(prep.kek.bits / 8)),
    );
  } finally {
    hsm.p11.C_DestroyObject(hsm.raw, kek);
  }
}

/** An AES session key from the raw session (for the AWS symmetric OAEP wrap). */
export function generateAesKey(hsm: Hsm): Buffer {
  return hsm.p11.C_GenerateKey(hsm.raw, { mechanism: 0x1080 }, [
    { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
    { type: CKA.CKA_KEY_TYPE, value: 0x1f },
    { type: CKA_VALUE_LEN, value: 32 },
    { type: CKA.CKA_TOKEN, value: false },
    { type: CKA.CKA_SENSITIVE, value: true },
    { type: CKA_EXTRACTABLE, value: true },
    { type: CKA.CKA_ENCRYPT, value: true },
  ]);
}
