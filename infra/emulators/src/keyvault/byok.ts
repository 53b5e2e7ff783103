/**
 * BYOK import: `PUT /keys/{name}` with `key.key_hsm` = base64url of a whole .byok file. The blob is really
 * unwrapped with the private half of the KEK it names (RSA-OAEP SHA-1 + RFC 5649, as Azure's BYOK
 * specification requires), the target is parsed and checked against the requested kty/crv, and the result
 * becomes an HSM key of this vault. Every refusal is 400 BadParameter with a sentence saying what to fix.
 */
import { ByokError, decodeByokBlob, fromBase64url, parseKeyMaterial, rsaAesKeyUnwrap } from '@byok/core';
import { badParameter } from './errors.js';
import { curveOfKey, privateKeyOf } from './keys.js';
import { type CurveName, familyOf, type KeyType, type StoredKeyVersion, type VaultMode } from './model.js';

export interface UnwrappedTarget {
  readonly privateKeyPem?: string;
  readonly secretKey?: string;
  readonly crv?: CurveName;
  readonly keySize: number;
  readonly kekKid: string;
  readonly generator: string;
  readonly trailingZeros: number;
}

export interface ImportRequest {
  readonly kty: KeyType;
  readonly crv?: CurveName;
  /** base64url text of `key_hsm`. */
  readonly keyHsm: string;
}

/** Finds the KEK a blob names: `https://<this vault>/keys/<name>/<version>`. */
export type KekLookup = (name: string, version: string | undefined) => StoredKeyVersion | undefined;

const RSA_SIZES = [2048, 3072, 4096];
const OCT_SIZES = [128, 192, 256];

export function unwrapByok(req: ImportRequest, mode: VaultMode, findKek: KekLookup): UnwrappedTarget {
  if (!req.kty.endsWith('-HSM')) {
    throw badParameter(
      `key_hsm (BYOK) import needs an HSM key type (RSA-HSM, EC-HSM or oct-HSM), not ${req.kty}.`,
    );
  }
  if (req.kty === 'oct-HSM' && mode !== 'managedhsm') {
    throw badParameter('oct-HSM keys can only be imported into a Managed HSM.');
  }
  let blobText: string;
  try {
    blobText = fromBase64url(req.keyHsm).toString('utf8');
  } catch {
    throw badParameter(
      'key_hsm is not base64url; it must be the base64url encoding of the whole .byok file.',
    );
  }
  let blob: ReturnType<typeof decodeByokBlob>;
  try {
    blob = decodeByokBlob(blobText);
  } catch (err) {
    throw badParameter(`key_hsm is not a valid BYOK blob: ${reason(err)}`);
  }
  if (blob.schemaVersion !== '1.0.0') {
    throw badParameter(
      `BYOK blob schema_version '${blob.schemaVersion}' is not supported; it must be '1.0.0'.`,
    );
  }

  const ref = parseKekKid(blob.kid);
  const kek = findKek(ref.name, ref.version);
  if (!kek) {
    throw badParameter(
      `The key exchange key (KEK) ${blob.kid} named by the BYOK blob was not found in this vault; ` +
        'download the KEK of this vault and wrap the key again.',
    );
  }
  if (kek.kty !== 'RSA-HSM') {
    throw badParameter(`The key exchange key ${blob.kid} is ${kek.kty}; a KEK must be an RSA-HSM key.`);
  }
  if (kek.keyOps.length !== 1 || kek.keyOps[0] !== 'import') {
    throw badParameter(
      `The key exchange key ${blob.kid} has key_ops [${kek.keyOps.join(', ')}]; a KEK must have key_ops exactly ["import"].`,
    );
  }
  if (!kek.enabled) throw badParameter(`The key exchange key ${blob.kid} is disabled.`);

  let material: Buffer;
  try {
    material = rsaAesKeyUnwrap(privateKeyOf(kek), blob.ciphertext, { oaepHash: 'sha1' });
  } catch (err) {
    throw badParameter(
      `The BYOK blob could not be unwrapped with the key exchange key ${blob.kid} ` +
        `(RSA-OAEP SHA-1 + AES-KWP): ${reason(err)}`,
    );
  }

  const family = familyOf(req.kty);
  const common = { kekKid: blob.kid, generator: blob.generator };
  try {
    if (family === 'oct') {
      const parsed = parseKeyMaterial(material, 'aes');
      if (parsed.kind !== 'aes' || !OCT_SIZES.includes(parsed.bits)) {
        throw badParameter('The unwrapped oct-HSM key must be 128, 192 or 256 bits.');
      }
      const secret = parsed.secretKey.export();
      return { ...common, secretKey: secret.toString('base64'), keySize: parsed.bits, trailingZeros: 0 };
    }
    const parsed = parseKeyMaterial(material, family);
    if (parsed.kind === 'aes' || parsed.kind === 'hmac')
      throw badParameter('The unwrapped key is a secret key, not an asymmetric key.');
    const pem = parsed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    if (family === 'rsa') {
      const bits = parsed.privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
      if (!RSA_SIZES.includes(bits)) {
        throw badParameter(
          `The unwrapped RSA key is ${bits}-bit; RSA-HSM keys must be 2048, 3072 or 4096 bits.`,
        );
      }
      return { ...common, privateKeyPem: pem, keySize: bits, trailingZeros: parsed.trailingZeros };
    }
    const crv = curveOfKey(parsed.privateKey);
    if (!crv) throw badParameter('The unwrapped EC key is on a curve Key Vault does not support.');
    if (req.crv !== undefined && req.crv !== crv) {
      throw badParameter(`The unwrapped EC key is on curve ${crv}, but the request says crv ${req.crv}.`);
    }
    const bits = { 'P-256': 256, 'P-384': 384, 'P-521': 521, 'P-256K': 256 }[crv];
    return { ...common, privateKeyPem: pem, crv, keySize: bits, trailingZeros: parsed.trailingZeros };
  } catch (err) {
    if (err instanceof ByokError)
      throw badParameter(`The unwrapped key is not a valid ${req.kty} key: ${reason(err)}`);
    throw err;
  }
}

function parseKekKid(kid: string): { name: string; version: string | undefined } {
  let url: URL;
  try {
    url = new URL(kid);
  } catch {
    throw badParameter(
      `The BYOK blob's kid '${kid}' is not a key identifier URL (https://<vault>/keys/<name>/<version>).`,
    );
  }
  const m = /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([0-9A-Za-z]{1,64}))?\/?$/.exec(url.pathname);
  if (!m?.[1] || url.protocol !== 'https:') {
    throw badParameter(
      `The BYOK blob's kid '${kid}' is not a key identifier URL (https://<vault>/keys/<name>/<version>).`,
    );
  }
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) {
    throw badParameter(
      `The BYOK blob's KEK ${kid} belongs to another vault; the KEK must be in the vault the key is imported into.`,
    );
  }
  return { name: m[1], version: m[2] };
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
