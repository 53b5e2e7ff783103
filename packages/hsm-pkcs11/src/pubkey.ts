/**
 * Public keys rebuilt from PKCS#11 attributes (CKA_MODULUS/CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS/CKA_EC_POINT),
 * so what the token holds can be compared with what a cloud reports. Only public values pass through here.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { ByokError, curveByOid, type EcCurve } from '@byok/core';

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

/** Reads one DER TLV at the start; undefined when the bytes are not one well-formed element. */
function readTlv(bytes: Buffer): { tag: number; value: Buffer; total: number } | undefined {
  if (bytes.length < 2) return undefined;
  const tag = bytes[0] ?? 0;
  let length = bytes[1] ?? 0;
  let offset = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || bytes.length < 2 + count) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[2 + i] ?? 0);
    offset += count;
  }
  if (offset + length > bytes.length) return undefined;
  return { tag, value: bytes.subarray(offset, offset + length), total: offset + length };
}

const EC_PUBLIC_KEY_OID = Buffer.from('06072a8648ce3d0201', 'hex'); // 1.2.840.10045.2.1

/** Dotted OID of a DER OBJECT IDENTIFIER (CKA_EC_PARAMS as a named curve); undefined otherwise. */
export function oidFromDer(bytes: Buffer): string | undefined {
  const tlv = readTlv(bytes);
  if (tlv?.tag !== 0x06 || tlv.value.length === 0) return undefined;
  const first = tlv.value[0] ?? 0;
  const top = Math.min(2, Math.floor(first / 40));
  const arcs = [top, first - top * 40];
  let arc = 0;
  for (const byte of tlv.value.subarray(1)) {
    arc = arc * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(arc);
      arc = 0;
    }
  }
  return arcs.join('.');
}

/** The curve named by CKA_EC_PARAMS, or undefined for curves we do not support (or explicit parameters). */
export function curveOfEcParams(ecParams: Buffer): EcCurve | undefined {
  const oid = oidFromDer(ecParams);
  return oid === undefined ? undefined : curveByOid(oid);
}

/** `P-384`, or the OID / `explicit parameters` for curves we do not know. */
export function describeEcParams(ecParams: Buffer): string {
  const oid = oidFromDer(ecParams);
  if (oid === undefined) return 'a curve given by explicit parameters';
  return curveByOid(oid)?.name ?? `curve ${oid}`;
}

/**
 * CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 v2.40); some modules return the bare point.
 * Decide by the expected size of an uncompressed point, not by the first byte (both start with 0x04).
 */
export function ecPointFromAttribute(value: Buffer, curve: EcCurve): Buffer {
  const bare = 1 + 2 * Math.ceil(curve.bits / 8);
  if (value.length === bare && value[0] === 0x04) return value;
  const tlv = readTlv(value);
  if (tlv && tlv.tag === 0x04 && tlv.total === value.length && tlv.value.length === bare) return tlv.value;
  throw new ByokError(
    'CKR_ATTRIBUTE_VALUE_INVALID',
    `CKA_EC_POINT is not an uncompressed ${curve.name} point`,
  );
}

export function rsaPublicKey(modulus: Buffer, publicExponent: Buffer): KeyObject {
  return createPublicKey({
    key: {
      kty: 'RSA',
      n: stripZeros(modulus).toString('base64url'),
      e: stripZeros(publicExponent).toString('base64url'),
    },
    format: 'jwk',
  });
}

export function ecPublicKey(curve: EcCurve, point: Buffer): KeyObject {
  const algorithm = der(0x30, EC_PUBLIC_KEY_OID, curve.ecParamsDer);
  const spki = der(0x30, algorithm, der(0x03, Buffer.from([0x00]), point));
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

export function stripZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** Bit length of a big-endian unsigned integer (CKA_MODULUS). */
export function bitLength(bytes: Buffer): number {
  const b = stripZeros(bytes);
  const top = b[0] ?? 0;
  return top === 0 ? 0 : (b.length - 1) * 8 + (32 - Math.clz32(top));
}
