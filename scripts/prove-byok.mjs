// Proves a targetBlob.byok the way the cloud would take it apart: unwrap with the KEK private key,
// parse the PKCS#8 inside, and compare its public key with the one the HSM holds for the target label.
// Usage: node scripts/prove-byok.mjs BLOB KEK_PRIVATE_PEM LIBRARY TOKEN_LABEL KEY_LABEL PIN_FILE
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  decodeByokBlob,
  parseKeyMaterial,
  publicKeysEqual,
  rsaAesKeyUnwrap,
  spkiFingerprint,
} from '../packages/core/dist/index.js';
import { Pkcs11Module } from '../packages/hsm-pkcs11/dist/index.js';

const [blobPath, kekPath, library, tokenLabel, keyLabel, pinFile] = process.argv.slice(2);
const blob = decodeByokBlob(readFileSync(blobPath, 'utf8'));
const kekPrivate = createPrivateKey(readFileSync(kekPath));
const material = parseKeyMaterial(rsaAesKeyUnwrap(kekPrivate, blob.ciphertext, { oaepHash: 'sha1' }), 'rsa');
if (material.kind === 'aes') throw new Error('expected an asymmetric key in the blob');

const module = Pkcs11Module.load(library);
try {
  const token = module.findToken(tokenLabel);
  const session = module.openSession(token.slotId);
  session.login(readFileSync(pinFile, 'utf8').trim());
  const found = session.findTargetKey(keyLabel);
  if (!found) throw new Error(`no key '${keyLabel}' on token '${tokenLabel}'`);
  const target = session.loadTargetKey(found, { kind: 'rsa', bits: 2048 });
  if (!target.publicKey || !publicKeysEqual(target.publicKey, material.publicKey)) {
    console.error('MISMATCH: the key in the blob is not the HSM key');
    process.exit(1);
  }
  console.log(`proven: blob (${blob.ciphertext.length} bytes of ciphertext, kid ${blob.kid})`);
  console.log(`        unwraps to the private half of HSM key '${keyLabel}'`);
  console.log(`        public key SHA-256 ${spkiFingerprint(material.publicKey)} (HSM and blob agree)`);
  session.close();
} finally {
  module.close();
}
