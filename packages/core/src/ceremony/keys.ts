/**
 * Approver public keys: Ed25519 or ECDSA P-256, written as a PEM SubjectPublicKeyInfo or a JWK, normalised
 * to raw bytes once, when the definition is validated. Plain TypeScript, no node:crypto: the same code runs
 * in the workflow sandbox.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { bytesEqual, fromBase64, toBase64Url } from './bytes.js';
import type { ApproverKey } from './types.js';

// An SPKI for these two algorithms is a fixed header followed by the raw key, so a prefix match is a
// complete parse: AlgorithmIdentifier id-Ed25519 (1.3.101.112) / id-ecPublicKey + prime256v1.
const ED25519_SPKI_PREFIX = new Uint8Array([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);
const P256_ALGORITHM = [
  0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
  0x03, 0x01, 0x07,
];
const P256_SPKI_UNCOMPRESSED = new Uint8Array([0x30, 0x59, ...P256_ALGORITHM, 0x03, 0x42, 0x00]);
const P256_SPKI_COMPRESSED = new Uint8Array([0x30, 0x39, ...P256_ALGORITHM, 0x03, 0x22, 0x00]);

/** Parses a PEM or JWK public key; returns a one-line problem instead of throwing. */
export function parseApproverKey(value: unknown): ApproverKey | { readonly problem: string } {
  if (typeof value === 'string') return fromPem(value);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return fromJwk(value as Record<string, unknown>);
  }
  return { problem: 'expected a PEM public key (BEGIN PUBLIC KEY) or a JWK object' };
}

function fromPem(text: string): ApproverKey | { readonly problem: string } {
  const match = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(text);
  if (!match?.[1]) {
    if (/PRIVATE KEY/.test(text))
      return { problem: "this is a PRIVATE key: give the approver's public key only" };
    return { problem: 'expected a PEM block "-----BEGIN PUBLIC KEY-----"' };
  }
  const der = fromBase64(match[1]);
  if (!der) return { problem: 'the PEM body is not valid base64' };
  const body = (prefix: Uint8Array, length: number): Uint8Array | undefined =>
    der.length === prefix.length + length && bytesEqual(der.subarray(0, prefix.length), prefix)
      ? der.subarray(prefix.length)
      : undefined;
  const ed = body(ED25519_SPKI_PREFIX, 32);
  if (ed) return checked('ed25519', ed);
  const ec = body(P256_SPKI_UNCOMPRESSED, 65) ?? body(P256_SPKI_COMPRESSED, 33);
  if (ec) return checked('p256', ec);
  return { problem: 'unsupported public key: approvers sign with Ed25519 or ECDSA P-256' };
}

function fromJwk(jwk: Record<string, unknown>): ApproverKey | { readonly problem: string } {
  if ('d' in jwk)
    return { problem: 'this JWK holds a private key ("d"): give the approver\'s public key only' };
  const coordinate = (name: 'x' | 'y', length: number): Uint8Array | undefined => {
    const v = jwk[name];
    const bytes = typeof v === 'string' ? fromBase64(v) : undefined;
    return bytes?.length === length ? bytes : undefined;
  };
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    const x = coordinate('x', 32);
    return x ? checked('ed25519', x) : { problem: 'JWK Ed25519 "x" must be 32 bytes of base64url' };
  }
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    const x = coordinate('x', 32);
    const y = coordinate('y', 32);
    if (!x || !y) return { problem: 'JWK P-256 "x" and "y" must each be 32 bytes of base64url' };
    const point = new Uint8Array(65);
    point[0] = 0x04;
    point.set(x, 1);
    point.set(y, 33);
    return checked('p256', point);
  }
  return {
    problem: `unsupported JWK kty ${JSON.stringify(jwk.kty)} crv ${JSON.stringify(jwk.crv)}: use OKP/Ed25519 or EC/P-256`,
  };
}

function checked(alg: ApproverKey['alg'], raw: Uint8Array): ApproverKey | { readonly problem: string } {
  const valid = alg === 'ed25519' ? ed25519.utils.isValidPublicKey(raw) : isP256Point(raw);
  if (!valid)
    return {
      problem: `not a valid ${alg === 'ed25519' ? 'Ed25519' : 'P-256'} public key (not a curve point)`,
    };
  return { alg, raw: toBase64Url(alg === 'p256' ? uncompressed(raw) : raw) };
}

function isP256Point(raw: Uint8Array): boolean {
  try {
    p256.Point.fromBytes(raw).assertValidity();
    return true;
  } catch {
    return false;
  }
}

/** One spelling per P-256 key, so the same key given compressed and uncompressed is seen as the same. */
function uncompressed(raw: Uint8Array): Uint8Array {
  return p256.Point.fromBytes(raw).toBytes(false);
}
