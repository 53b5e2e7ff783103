/** Counting what a ceremony left behind, in the HSM and in the emulators, from the test process. */
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeKeyCommand, KMSClient, ListKeysCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { KeyClient } from '@azure/keyvault-keys';
import type { CeremonyKeySpec } from '@byok/core/ceremony';
import { EMULATOR_AWS_CREDENTIALS, emulatorCredential } from '@byok/emulators';
import { CEREMONY_TAG } from '../../src/activities/cloud.js';
import { toKeySpec } from '../../src/activities/hsm.js';
import { type Stack, TOKEN_LABEL } from './stack.js';

/** Keys labelled `label` on the token, and the public key (RSA/EC) of the one found. */
export async function hsmKeys(stack: Stack, label: string, spec: CeremonyKeySpec) {
  process.env.SOFTHSM2_CONF = stack.softhsm.confPath; // before the first C_Initialize of this process
  const lib = await import('@byok/hsm-pkcs11');
  const module = lib.Pkcs11Module.load(stack.softhsm.libraryPath);
  try {
    const token = module.findToken(TOKEN_LABEL);
    const session = module.openSession(token.slotId);
    try {
      session.login(stack.pin);
      const found = session.findTargetKeys(label);
      const first = found[0];
      const key = first ? session.loadTargetKey(first, toKeySpec(spec)) : undefined;
      const aesBlock =
        key && spec.kind === 'aes'
          ? session.encryptAes(key, Buffer.alloc(16), Buffer.alloc(16, 7))
          : undefined;
      return { count: found.length, publicKey: key?.publicKey, aesBlock };
    } finally {
      session.close();
    }
  } finally {
    module.close();
  }
}

export function keyClient(stack: Stack): KeyClient {
  return new KeyClient(stack.kv.url, emulatorCredential(), {
    tlsOptions: { ca: stack.kv.caCertPem },
    disableChallengeResourceVerification: true,
  });
}

export async function azureVersions(stack: Stack, name: string): Promise<number> {
  let n = 0;
  for await (const _ of keyClient(stack).listPropertiesOfKeyVersions(name)) n++;
  return n;
}

export function kmsClient(stack: Stack): KMSClient {
  return new KMSClient({
    endpoint: stack.kms.endpoint,
    region: stack.kms.region,
    credentials: EMULATOR_AWS_CREDENTIALS,
  });
}

/**
 * KMS keys tagged `byok-ceremony=<ceremonyId>` (every ListKeys page, then ListResourceTags), or whose
 * description names it, with their state. Either mark counts: a key the ceremony made with a lost tag is found.
 */
export async function kmsKeysOf(
  stack: Stack,
  ceremonyId: string,
): Promise<{ keyId: string; state: string }[]> {
  const kms = kmsClient(stack);
  const out: { keyId: string; state: string }[] = [];
  try {
    let marker: string | undefined;
    do {
      const page = await kms.send(new ListKeysCommand(marker ? { Marker: marker } : {}));
      for (const k of page.Keys ?? []) {
        const tags = (await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags ?? [];
        const meta = (await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata;
        const tagged = tags.some((t) => t.TagKey === CEREMONY_TAG && t.TagValue === ceremonyId);
        if (tagged || meta?.Description === `byok ceremony ${ceremonyId}`)
          out.push({ keyId: meta?.KeyId ?? '', state: meta?.KeyState ?? '' });
      }
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
  } finally {
    kms.destroy();
  }
  return out;
}

/** The key id (not ARN) an alias names in the KMS emulator, undefined when the alias does not exist. */
export async function kmsAliasTarget(stack: Stack, alias: string): Promise<string | undefined> {
  const kms = kmsClient(stack);
  try {
    return (await kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata?.KeyId;
  } catch (err) {
    if ((err as Error).name === 'NotFoundException') return undefined;
    throw err;
  } finally {
    kms.destroy();
  }
}

/**
 * AES-256-CBC of one block (zero IV, 16 x 0x07) under the material the KMS emulator unwrapped for `keyId`:
 * KMS's own ciphertexts use keys derived inside KMS, so the test reads the emulator's copy and compares it
 * with the same block encrypted in the HSM (`hsmKeys(...).aesBlock`).
 */
export function kmsAesBlock(stack: Stack, keyId: string): Buffer {
  const state = JSON.parse(readFileSync(join(stack.dir, 'kms', 'kms-state.json'), 'utf8')) as {
    keys: Record<string, { keyId: string; materials: { secret?: string; state?: string }[] }>;
  };
  const record = Object.values(state.keys).find((k) => k.keyId === keyId);
  const secret = record?.materials.find((m) => m.state === 'CURRENT')?.secret;
  if (!secret) throw new Error(`the KMS emulator holds no material for ${keyId}`);
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(secret, 'base64'), Buffer.alloc(16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.alloc(16, 7)), cipher.final()]);
}

/** Every key byte the emulators hold (imported material, KEKs, wrapping keys), in the encodings a leak would take. */
export function emulatorSecrets(stack: Stack): string[] {
  const out: string[] = [];
  const walk = (value: unknown, key: string): void => {
    if (typeof value === 'string' && /^(secret|secretKey|privateKeyPem)$/.test(key)) {
      const bytes = value.includes('-----BEGIN')
        ? Buffer.from(value.replace(/-----[^-]+-----|\s/g, ''), 'base64')
        : Buffer.from(value, 'base64');
      // A window of the bytes in every encoding: the raw bytes never leave the HSM or the emulator.
      const slice = bytes.subarray(bytes.length > 48 ? 32 : 0, bytes.length > 48 ? 64 : bytes.length);
      out.push(
        slice.toString('hex'),
        slice.toString('base64').slice(0, 24),
        slice.toString('base64url').slice(0, 24),
      );
    } else if (Array.isArray(value)) {
      for (const v of value) walk(v, key);
    } else if (typeof value === 'object' && value !== null)
      for (const [k, v] of Object.entries(value)) walk(v, k);
  };
  for (const file of [
    join(stack.dir, 'kv', 'keyvault-state.json'),
    join(stack.dir, 'kms', 'kms-state.json'),
  ]) {
    try {
      walk(JSON.parse(readFileSync(file, 'utf8')), '');
    } catch {
      // not written yet
    }
  }
  return out.filter((s) => s.length >= 16);
}
