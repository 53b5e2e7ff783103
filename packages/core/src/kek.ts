/**
 * The KEK: the cloud's RSA public key the target is wrapped to (`kekBlob.pem` for the drop-in CLI,
 * GetParametersForImport's `PublicKey` for AWS). Checked here, before any HSM session is opened.
 */
import { createPublicKey, hash, type KeyObject } from 'node:crypto';
import { ByokError } from './errors.js';
import { asText, quoteValue, stripBom } from './quote.js';

export interface Kek {
  readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER, re-encoded by node:crypto (canonical whatever the file's spelling). */
  readonly spkiDer: Buffer;
  readonly modulusBits: number;
  /** sha256 hex of spkiDer: what approvals and evidence name the KEK by. */
  readonly fingerprint: string;
}

/** Azure's KEKs are RSA 2048/3072/4096 and AWS's RSA_2048/3072/4096; nothing smaller protects a key today. */
export const KEK_MIN_BITS = 2048;

/** An RSA-16384 SPKI PEM is under 3 KB; a limit keeps the block search cheap on a wrong, huge file. */
const MAX_PEM_CHARS = 256 * 1024;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

// The original reports a PEM it cannot read as CKR_FILE_IO and a key of the wrong type as
// CKR_KEY_TYPE_INCONSISTENT; runbooks grep for those names, so we keep them.
function unreadable(source: string, message: string): ByokError {
  return new ByokError('CKR_FILE_IO', `${source}: ${message}`);
}

function wrongKey(
  source: string,
  message: string,
  code: 'CKR_KEY_TYPE_INCONSISTENT' | 'CKR_WRAPPING_KEY_SIZE_RANGE' = 'CKR_KEY_TYPE_INCONSISTENT',
): ByokError {
  return new ByokError(code, `${source}: ${message}`);
}

/**
 * Reads `BEGIN PUBLIC KEY` (SPKI; also PKCS#1 `BEGIN RSA PUBLIC KEY`) from text that may carry a BOM, CRLF
 * line ends, or other text around the block (e.g. a key pasted from an e-mail or a portal).
 */
export function parseKekPem(text: string | Buffer, opts?: { source?: string }): Kek {
  const source = opts?.source ?? 'kekBlob.pem';
  const pem = stripBom(asText(text));
  if (pem.length > MAX_PEM_CHARS) {
    throw unreadable(
      source,
      `is ${pem.length} characters long; a KEK public key PEM is a few kilobytes: wrong file?`,
    );
  }
  const blocks = [...pem.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] ?? '', body: m[2] ?? '' }));
  const block = blocks.find((b) => b.label === 'PUBLIC KEY' || b.label === 'RSA PUBLIC KEY');
  if (!block) {
    const found = blocks[0]?.label;
    if (found?.includes('PRIVATE KEY')) {
      throw wrongKey(
        source,
        `holds a private key (${found}); it must hold only the KEK's public key (BEGIN PUBLIC KEY) ` +
          'and the private key should be destroyed or moved back to where it belongs',
      );
    }
    if (found === 'CERTIFICATE') {
      throw wrongKey(
        source,
        'holds a certificate, not a public key; extract it with `openssl x509 -pubkey -noout -in <cert>`',
      );
    }
    const what = found
      ? `a ${found} block`
      : pem.trim() === ''
        ? 'nothing (the file is empty)'
        : 'no PEM block';
    throw unreadable(
      source,
      `holds ${what}; it must hold the KEK public key as '-----BEGIN PUBLIC KEY-----' ` +
        '(e.g. `az keyvault key download --encoding PEM`)',
    );
  }
  const body = block.body.replace(/\s+/g, '');
  if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) {
    throw unreadable(source, `the ${block.label} block is not valid base64; download the KEK again`);
  }
  const der = Buffer.from(body, 'base64');
  let publicKey: KeyObject;
  try {
    publicKey =
      block.label === 'PUBLIC KEY'
        ? createPublicKey({ key: der, format: 'der', type: 'spki' })
        : createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
  } catch (cause) {
    throw new ByokError(
      'CKR_FILE_IO',
      `${source}: the ${block.label} block does not decode to a public key; download the KEK again`,
      { cause },
    );
  }
  return checkedKek(publicKey, source);
}

/**
 * For KEKs that arrive as key objects (AWS returns DER SPKI; tests generate them).
 * A private key gives its public half.
 */
export function kekFromPublicKey(key: KeyObject): Kek {
  return checkedKek(key.type === 'private' ? createPublicKey(key) : key, 'KEK');
}

export function publicKeyToPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.type !== 'public') {
    throw new ByokError('CKR_ARGUMENTS_BAD', 'a secret key has no public key to write as PEM');
  }
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

function checkedKek(publicKey: KeyObject, source: string): Kek {
  if (publicKey.type !== 'public') {
    throw wrongKey(source, `is a ${publicKey.type} key; the KEK must be an RSA public key`);
  }
  const type = publicKey.asymmetricKeyType;
  if (type !== 'rsa') {
    const what =
      type === 'ec'
        ? `an EC key (${publicKey.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'})`
        : quoteValue(String(type));
    throw wrongKey(
      source,
      `the KEK is ${what}; CKM_RSA_AES_KEY_WRAP needs an RSA KEK of ${KEK_MIN_BITS} bits or more: create the KEK as RSA`,
    );
  }
  const modulusBits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (modulusBits < KEK_MIN_BITS) {
    throw wrongKey(
      source,
      `the KEK is RSA-${modulusBits}; it must be at least RSA-${KEK_MIN_BITS} (clouds issue 2048, 3072 or 4096)`,
      'CKR_WRAPPING_KEY_SIZE_RANGE',
    );
  }
  const exponent = publicKey.asymmetricKeyDetails?.publicExponent ?? 0n;
  if (exponent < 3n || exponent % 2n === 0n) {
    throw wrongKey(
      source,
      `the KEK's public exponent ${exponent} is invalid (it must be odd and at least 3)`,
    );
  }
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  return {
    publicKey,
    spkiDer,
    modulusBits,
    fingerprint: hash('sha256', spkiDer, 'hex'),
  };
}
