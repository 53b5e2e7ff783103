/**
 * Key material as it comes out of an unwrap: raw bytes for AES and HMAC, PKCS#8 PrivateKeyInfo DER for RSA and EC.
 * Verifiers and emulators use this to check that what arrived is the key the ceremony asked for.
 *
 * Trailing zeros, decided explicitly: SoftHSM 2.6.1 zero-pads the key data to a multiple of 8 bytes before
 * its RFC 5649 wrap (RFC 5649 pads by itself, so a Luna does not), so an unwrapped PKCS#8 can carry 0..7
 * zero bytes after the DER. We accept exactly that and report the count; anything else after the DER is a
 * corrupt or foreign blob.
 */
import { createPrivateKey, createPublicKey, createSecretKey, hash, type KeyObject } from 'node:crypto';
import { ByokError } from './errors.js';
import { curveByNodeName, describeKeySpec } from './keyspec.js';
import type { KeySpec } from './types.js';

export type KeyMaterial =
  | {
      readonly kind: 'rsa' | 'ec';
      readonly privateKey: KeyObject;
      readonly publicKey: KeyObject;
      /** Zero bytes found after the DER (SoftHSM padding); 0 from a module that pads correctly. */
      readonly trailingZeros: number;
    }
  | { readonly kind: 'aes'; readonly secretKey: KeyObject; readonly bits: number; readonly trailingZeros: 0 }
  | {
      readonly kind: 'hmac';
      readonly secretKey: KeyObject;
      readonly bits: number;
      readonly trailingZeros: 0;
    };

/** At most this many zero bytes may follow the DER: padding to a multiple of 8 adds 7 at most. */
export const MAX_TRAILING_ZEROS = 7;

const AES_KEY_BYTES = [16, 24, 32];
/** HMAC_224..HMAC_512: the key is as long as the hash (what KMS and HSMs generate). */
const HMAC_KEY_BYTES = [28, 32, 48, 64];

type ExpectedKind = 'rsa' | 'ec' | 'aes' | 'hmac';

function invalid(message: string): ByokError {
  return new ByokError('CKR_WRAPPED_KEY_INVALID', message);
}

/**
 * Length of the DER element at the start of `bytes` (tag + length + contents), read from its own header.
 * Only what PrivateKeyInfo needs: a SEQUENCE with a definite length of up to 4 length bytes.
 */
export function derElementLength(bytes: Buffer): number {
  if (bytes.length < 2 || bytes[0] !== 0x30) {
    throw invalid('unwrapped key is not PKCS#8: it does not start with a DER SEQUENCE');
  }
  const first = bytes[1] ?? 0;
  if (first < 0x80) return 2 + first;
  const lengthBytes = first & 0x7f;
  if (lengthBytes === 0 || lengthBytes > 4) {
    throw invalid('unwrapped key is not PKCS#8: its DER length is indefinite or too large');
  }
  if (bytes.length < 2 + lengthBytes) {
    throw invalid('unwrapped key is not PKCS#8: its DER header is truncated');
  }
  let length = 0;
  for (let i = 0; i < lengthBytes; i++) {
    length = length * 256 + (bytes[2 + i] ?? 0);
  }
  return 2 + lengthBytes + length;
}

function expectedKind(expected: KeySpec | ExpectedKind): ExpectedKind {
  return typeof expected === 'string' ? expected : expected.kind;
}

/** Parses and checks unwrapped key material; never puts key bytes in an error message. */
export function parseKeyMaterial(bytes: Buffer, expected: KeySpec | ExpectedKind): KeyMaterial {
  const kind = expectedKind(expected);
  const spec = typeof expected === 'string' ? undefined : expected;
  if (bytes.length === 0) throw invalid('unwrapped key material is empty');

  if (kind === 'aes') {
    const wanted = spec ? [spec.bits / 8] : AES_KEY_BYTES;
    if (!wanted.includes(bytes.length)) {
      const what = spec ? describeKeySpec(spec) : 'an AES key';
      throw invalid(`unwrapped key is ${bytes.length} bytes; ${what} is ${wanted.join(', ')} bytes`);
    }
    return {
      kind: 'aes',
      secretKey: createSecretKey(Buffer.from(bytes)),
      bits: bytes.length * 8,
      trailingZeros: 0,
    };
  }

  if (kind === 'hmac') {
    // Raw bytes, like AES: the generic secret's CKA_VALUE.
    const wanted = spec ? [spec.bits / 8] : HMAC_KEY_BYTES;
    if (!wanted.includes(bytes.length)) {
      const what = spec ? describeKeySpec(spec) : 'an HMAC key';
      throw invalid(`unwrapped key is ${bytes.length} bytes; ${what} is ${wanted.join(', ')} bytes`);
    }
    return {
      kind: 'hmac',
      secretKey: createSecretKey(Buffer.from(bytes)),
      bits: bytes.length * 8,
      trailingZeros: 0,
    };
  }

  const derLength = derElementLength(bytes);
  if (derLength > bytes.length) {
    throw invalid(
      `unwrapped key is truncated: its DER says ${derLength} bytes, only ${bytes.length} present`,
    );
  }
  const trailing = bytes.subarray(derLength);
  if (trailing.length > MAX_TRAILING_ZEROS || trailing.some((b) => b !== 0)) {
    throw invalid(
      `unwrapped key has ${trailing.length} unexpected bytes after its PKCS#8 DER ` +
        `(at most ${MAX_TRAILING_ZEROS} zero bytes of padding are tolerated)`,
    );
  }

  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: bytes.subarray(0, derLength), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new ByokError('CKR_WRAPPED_KEY_INVALID', 'unwrapped key is not a valid PKCS#8 PrivateKeyInfo', {
      cause,
    });
  }
  const actual = privateKey.asymmetricKeyType;
  if (actual !== kind) {
    throw new ByokError(
      'CKR_KEY_TYPE_INCONSISTENT',
      `unwrapped key is of type ${actual ?? 'unknown'}; expected ${spec ? describeKeySpec(spec) : kind.toUpperCase()}`,
    );
  }
  if (kind === 'ec') {
    const nodeCurve = privateKey.asymmetricKeyDetails?.namedCurve ?? 'unknown';
    const curve = curveByNodeName(nodeCurve);
    if (!curve) {
      throw new ByokError(
        'CKR_CURVE_NOT_SUPPORTED',
        `unwrapped EC key is on curve ${nodeCurve}, which we do not support`,
      );
    }
    if (spec?.kind === 'ec' && spec.curve.name !== curve.name) {
      throw new ByokError(
        'CKR_KEY_TYPE_INCONSISTENT',
        `unwrapped key is EC ${curve.name}; expected ${describeKeySpec(spec)}`,
      );
    }
  } else if (spec?.kind === 'rsa') {
    const bits = privateKey.asymmetricKeyDetails?.modulusLength;
    if (bits !== spec.bits) {
      throw new ByokError(
        'CKR_KEY_SIZE_RANGE',
        `unwrapped key is RSA-${bits}; expected ${describeKeySpec(spec)}`,
      );
    }
  }
  return { kind, privateKey, publicKey: createPublicKey(privateKey), trailingZeros: trailing.length };
}

function spkiDer(key: KeyObject): Buffer {
  if (key.type === 'secret') {
    throw new ByokError('CKR_KEY_TYPE_INCONSISTENT', 'a secret key has no public key to compare');
  }
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** The ceremony's verify step: the cloud's public key must be the HSM's. Either side may be a private key. */
export function publicKeysEqual(a: KeyObject, b: KeyObject): boolean {
  return spkiDer(a).equals(spkiDer(b));
}

/** sha256 hex of the SubjectPublicKeyInfo DER: how evidence names a key pair without holding it. */
export function spkiFingerprint(key: KeyObject): string {
  return hash('sha256', spkiDer(key), 'hex');
}

/** PKCS#8 PrivateKeyInfo DER: what CKM_RSA_AES_KEY_WRAP wraps for RSA and EC keys. */
export function toPkcs8Der(privateKey: KeyObject): Buffer {
  if (privateKey.type !== 'private') {
    throw new ByokError('CKR_KEY_TYPE_INCONSISTENT', `a ${privateKey.type} key has no PKCS#8 encoding`);
  }
  return privateKey.export({ type: 'pkcs8', format: 'der' });
}
