import {
  createCipheriv,
  createDecipheriv,
  constants as cryptoConstants,
  type KeyObject,
  privateDecrypt,
} from 'node:crypto';
import pkcs11js from 'pkcs11js';

/** Test-side helpers over pkcs11js; the shim tests use them, nothing in src/ does. */

export type Handle = Buffer;

export function findSlotByLabel(p11: pkcs11js.PKCS11, label: string): Handle {
  for (const slot of p11.C_GetSlotList(true)) {
    if (p11.C_GetTokenInfo(slot).label.trim() === label) return slot;
  }
  throw new Error(`token '${label}' not found`);
}

export function openUserSession(p11: pkcs11js.PKCS11, slot: Handle, pin: string): Handle {
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  p11.C_Login(session, pkcs11js.CKU_USER, pin);
  return session;
}

export function countObjects(p11: pkcs11js.PKCS11, session: Handle): number {
  p11.C_FindObjectsInit(session, []);
  const found = p11.C_FindObjects(session, 1000);
  p11.C_FindObjectsFinal(session);
  return found.length;
}

export function generateRsaTarget(
  p11: pkcs11js.PKCS11,
  session: Handle,
  label: string,
): { pub: Handle; priv: Handle } {
  const { publicKey, privateKey } = p11.C_GenerateKeyPair(
    session,
    { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
    [
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
      { type: pkcs11js.CKA_VERIFY, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
    ],
    [
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
    ],
  );
  return { pub: publicKey, priv: privateKey };
}

export function importKek(p11: pkcs11js.PKCS11, session: Handle, kek: KeyObject): Handle {
  const jwk = kek.export({ format: 'jwk' });
  if (jwk.n === undefined || jwk.e === undefined) throw new Error('not an RSA public key');
  return p11.C_CreateObject(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_MODULUS, value: Buffer.from(jwk.n, 'base64url') },
    { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from(jwk.e, 'base64url') },
  ]);
}

export function createAesKey(
  p11: pkcs11js.PKCS11,
  session: Handle,
  value: Buffer,
  usage: { wrap?: boolean; extractable?: boolean } = {},
): Handle {
  return p11.C_CreateObject(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_VALUE, value },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: usage.extractable ?? true },
    { type: pkcs11js.CKA_WRAP, value: usage.wrap ?? false },
    { type: pkcs11js.CKA_UNWRAP, value: usage.wrap ?? false },
  ]);
}

const KWP_IV = Buffer.from('A65959A6', 'hex');

function kwpCipherName(key: Buffer): string {
  return `id-aes${key.length * 8}-wrap-pad`;
}

export function kwpUnwrap(key: Buffer, wrapped: Buffer): Buffer {
  const decipher = createDecipheriv(kwpCipherName(key), key, KWP_IV);
  return Buffer.concat([decipher.update(wrapped), decipher.final()]);
}

export function kwpWrap(key: Buffer, plain: Buffer): Buffer {
  const cipher = createCipheriv(kwpCipherName(key), key, KWP_IV);
  return Buffer.concat([cipher.update(plain), cipher.final()]);
}

/** An independent reading of CKM_RSA_AES_KEY_WRAP output, so the shim is not checked against itself. */
export function rsaAesUnwrapForTest(kekPrivate: KeyObject, wrapped: Buffer, oaepHash: string): Buffer {
  const modulusBytes = (kekPrivate.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const aesKey = privateDecrypt(
    { key: kekPrivate, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash },
    wrapped.subarray(0, modulusBytes),
  );
  return kwpUnwrap(aesKey, wrapped.subarray(modulusBytes));
}

/** The DER element at the start of `der` (SoftHSM pads its KWP input with zeros to a multiple of 8). */
export function firstDerElement(der: Buffer): Buffer {
  const first = der[1] ?? 0;
  if (first < 0x80) return der.subarray(0, 2 + first);
  const lengthBytes = first & 0x7f;
  let length = 0;
  for (let i = 0; i < lengthBytes; i++) length = length * 256 + (der[2 + i] ?? 0);
  return der.subarray(0, 2 + lengthBytes + length);
}
