/**
 * Key templates, one attribute per line with the reason it is there (boulder's cmd/ceremony style).
 * This is the one place that turns targetKeyFlags into CKA_* booleans and decides CKA_SENSITIVE /
 * CKA_EXTRACTABLE; the session only calls C_GenerateKey(Pair) with what is built here.
 */
import type { KeySpec, TargetKeyFlag } from '@byok/core';
import type pkcs11js from 'pkcs11js';
import { CKA, CKK, CKM, CKO } from './constants.js';

export const RSA_PUBLIC_EXPONENT = Buffer.from([0x01, 0x00, 0x01]);

export interface KeyGenRequest {
  readonly mechanism: pkcs11js.Mechanism;
  /** RSA/EC only: the public half. */
  readonly publicTemplate?: pkcs11js.Template;
  /** The private (RSA/EC) or secret (AES) key: the one that gets wrapped. */
  readonly privateTemplate: pkcs11js.Template;
}

/** What the original's targetKeyFlags mean for each half of the key. */
interface Usage {
  readonly token: boolean;
  readonly modifiable: boolean;
  readonly extractable: boolean;
  readonly encrypt: boolean;
  readonly decrypt: boolean;
  readonly sign: boolean;
  readonly signRecover: boolean;
  readonly verify: boolean;
  readonly verifyRecover: boolean;
  readonly wrap: boolean;
  readonly unwrap: boolean;
  readonly derive: boolean;
}

export function usageOf(spec: KeySpec, flags: ReadonlySet<TargetKeyFlag>): Usage {
  // ECDSA keys cannot encrypt, recover or wrap; asking for it would only make stricter modules (Luna)
  // refuse the whole template, so those flags are ignored for EC and the keys say so (false).
  // HMAC keys only sign and verify: encrypt/wrap/recover make no sense for a generic secret.
  const ec = spec.kind === 'ec' || spec.kind === 'hmac';
  return {
    token: flags.has('CKF_TOKEN'),
    modifiable: flags.has('CKF_MODIFIABLE'),
    extractable: flags.has('CKF_EXTRACTABLE'),
    encrypt: !ec && flags.has('CKF_ENCRYPT'),
    decrypt: !ec && flags.has('CKF_DECRYPT'),
    sign: flags.has('CKF_SIGN'),
    signRecover: !ec && flags.has('CKF_SIGN_RECOVER'),
    verify: flags.has('CKF_VERIFY'),
    verifyRecover: !ec && flags.has('CKF_VERIFY_RECOVER'),
    wrap: !ec && flags.has('CKF_WRAP'),
    unwrap: !ec && flags.has('CKF_UNWRAP'),
    derive: flags.has('CKF_DERIVE'),
  };
}

/** Templates for the target key the config asks for. `label` is also used as CKA_ID, like the original. */
export function targetKeyTemplates(
  label: string,
  spec: KeySpec,
  flags: ReadonlySet<TargetKeyFlag>,
): KeyGenRequest {
  const u = usageOf(spec, flags);
  const names: pkcs11js.Template = [
    // How the config and the cloud refer to the key.
    { type: CKA.CKA_LABEL, value: label },
    // The original sets CKA_ID to the name too; keep it so existing runbooks find the key.
    { type: CKA.CKA_ID, value: Buffer.from(label, 'utf8') },
  ];
  // How every target key holding secret material (AES, HMAC, an RSA/EC private half) is protected.
  const secret: pkcs11js.Template = [
    ...names,
    // Persist on the token only with CKF_TOKEN (otherwise it is gone when the session closes).
    { type: CKA.CKA_TOKEN, value: u.token },
    // Only a logged-in user may see or use it.
    { type: CKA.CKA_PRIVATE, value: true },
    // The key value never leaves the HSM in plaintext.
    { type: CKA.CKA_SENSITIVE, value: true },
    // Wrappable under a KEK only with CKF_EXTRACTABLE (the whole point of BYOK; preflight checks it).
    { type: CKA.CKA_EXTRACTABLE, value: u.extractable },
    // Our KEK is an imported public key, never CKA_TRUSTED: true here would make the key unwrappable.
    { type: CKA.CKA_WRAP_WITH_TRUSTED, value: false },
    // Attribute changes only with CKF_MODIFIABLE.
    { type: CKA.CKA_MODIFIABLE, value: u.modifiable },
  ];
  if (spec.kind === 'hmac') {
    return {
      // PKCS#11's generator for CKK_GENERIC_SECRET (the key type HMAC mechanisms take).
      mechanism: { mechanism: CKM.CKM_GENERIC_SECRET_KEY_GEN },
      privateTemplate: [
        // A secret key object...
        { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
        // ...of generic secret type: what CKM_SHA*_HMAC use (CKK_SHA*_HMAC types are not widely supported).
        { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_GENERIC_SECRET },
        // Size in bytes: as long as the hash, what AWS KMS HMAC_224..512 keys are.
        { type: CKA.CKA_VALUE_LEN, value: spec.bits / 8 },
        ...secret,
        // An HMAC key signs (computes MACs) and verifies them; nothing else.
        { type: CKA.CKA_SIGN, value: u.sign },
        { type: CKA.CKA_VERIFY, value: u.verify },
        { type: CKA.CKA_DERIVE, value: u.derive },
      ],
    };
  }
  if (spec.kind === 'aes') {
    return {
      mechanism: { mechanism: CKM.CKM_AES_KEY_GEN },
      privateTemplate: [
        // A secret key object...
        { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
        // ...of AES type.
        { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_AES },
        // Size in bytes, as CKM_AES_KEY_GEN wants it.
        { type: CKA.CKA_VALUE_LEN, value: spec.bits / 8 },
        ...secret,
        // Usages exactly as targetKeyFlags lists them.
        { type: CKA.CKA_ENCRYPT, value: u.encrypt },
        { type: CKA.CKA_DECRYPT, value: u.decrypt },
        { type: CKA.CKA_SIGN, value: u.sign },
        { type: CKA.CKA_VERIFY, value: u.verify },
        { type: CKA.CKA_WRAP, value: u.wrap },
        { type: CKA.CKA_UNWRAP, value: u.unwrap },
        { type: CKA.CKA_DERIVE, value: u.derive },
      ],
    };
  }

  const publicCommon: pkcs11js.Template = [
    // A public key object.
    { type: CKA.CKA_CLASS, value: CKO.CKO_PUBLIC_KEY },
    // Same label and id as the private half, so either half finds the other.
    ...names,
    // Persist with the private half.
    { type: CKA.CKA_TOKEN, value: u.token },
    // Public keys are public: readable without login, so verifiers can read them back.
    { type: CKA.CKA_PRIVATE, value: false },
    // Attribute changes only with CKF_MODIFIABLE.
    { type: CKA.CKA_MODIFIABLE, value: u.modifiable },
    // The public-half usages of targetKeyFlags.
    { type: CKA.CKA_ENCRYPT, value: u.encrypt },
    { type: CKA.CKA_VERIFY, value: u.verify },
    { type: CKA.CKA_VERIFY_RECOVER, value: u.verifyRecover },
    { type: CKA.CKA_WRAP, value: u.wrap },
  ];
  const privateCommon: pkcs11js.Template = [
    // A private key object.
    { type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY },
    ...secret,
    // The private-half usages of targetKeyFlags.
    { type: CKA.CKA_DECRYPT, value: u.decrypt },
    { type: CKA.CKA_SIGN, value: u.sign },
    { type: CKA.CKA_SIGN_RECOVER, value: u.signRecover },
    { type: CKA.CKA_UNWRAP, value: u.unwrap },
    { type: CKA.CKA_DERIVE, value: u.derive },
  ];

  if (spec.kind === 'rsa') {
    return {
      // PKCS#1 key pair generation (the original used X9.31, which SoftHSM and most modules lack).
      mechanism: { mechanism: CKM.CKM_RSA_PKCS_KEY_PAIR_GEN },
      publicTemplate: [
        ...publicCommon,
        // An RSA key...
        { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_RSA },
        // ...of the size the config asks for...
        { type: CKA.CKA_MODULUS_BITS, value: spec.bits },
        // ...with e = 65537, what every cloud KMS expects.
        { type: CKA.CKA_PUBLIC_EXPONENT, value: RSA_PUBLIC_EXPONENT },
      ],
      privateTemplate: [
        ...privateCommon,
        // An RSA key.
        { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_RSA },
      ],
    };
  }

  return {
    mechanism: { mechanism: CKM.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [
      ...publicCommon,
      // An EC key...
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_EC },
      // ...on the named curve of the config (DER of its OID).
      { type: CKA.CKA_EC_PARAMS, value: spec.curve.ecParamsDer },
    ],
    privateTemplate: [
      ...privateCommon,
      // An EC key.
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_EC },
    ],
  };
}

/** The ephemeral AES-256 key of a two-step wrap: lives in this session only, wraps one key, then dies. */
export function ephemeralAesTemplate(): pkcs11js.Template {
  return [
    // A secret key object...
    { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
    // ...of AES type...
    { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_AES },
    // ...256 bits, what CKM_RSA_AES_KEY_WRAP and every cloud use.
    { type: CKA.CKA_VALUE_LEN, value: 32 },
    // Says what it is if anyone lists session objects.
    { type: CKA.CKA_LABEL, value: 'byok-ephemeral-aes' },
    // Session object: it disappears with the session even if our cleanup never runs.
    { type: CKA.CKA_TOKEN, value: false },
    // Only the logged-in user's session sees it.
    { type: CKA.CKA_PRIVATE, value: true },
    // Its value never leaves the HSM in plaintext...
    { type: CKA.CKA_SENSITIVE, value: true },
    // ...only wrapped under the KEK with OAEP, so it must be extractable.
    { type: CKA.CKA_EXTRACTABLE, value: true },
    // Its one job: wrap the target with RFC 5649.
    { type: CKA.CKA_WRAP, value: true },
    // Nothing else.
    { type: CKA.CKA_UNWRAP, value: false },
    { type: CKA.CKA_ENCRYPT, value: false },
    { type: CKA.CKA_DECRYPT, value: false },
  ];
}

/** The cloud's KEK (RSA public key), imported as a session object to wrap under. */
export function kekTemplate(modulus: Buffer, publicExponent: Buffer, label: string): pkcs11js.Template {
  return [
    // A public key object...
    { type: CKA.CKA_CLASS, value: CKO.CKO_PUBLIC_KEY },
    // ...of RSA type...
    { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_RSA },
    // ...with the KEK's modulus and exponent, as read from kekBlob.pem / the cloud.
    { type: CKA.CKA_MODULUS, value: modulus },
    { type: CKA.CKA_PUBLIC_EXPONENT, value: publicExponent },
    // Names the KEK by its fingerprint, for anyone listing session objects.
    { type: CKA.CKA_LABEL, value: label },
    // Session object: the KEK is never stored on the token.
    { type: CKA.CKA_TOKEN, value: false },
    // Nothing secret about a public key.
    { type: CKA.CKA_PRIVATE, value: false },
    // Used to wrap the target (one-step) or the ephemeral AES key (two-step)...
    { type: CKA.CKA_WRAP, value: true },
    // ...and some modules check CKA_ENCRYPT for CKM_RSA_PKCS_OAEP wrapping.
    { type: CKA.CKA_ENCRYPT, value: true },
    // Not a signature key.
    { type: CKA.CKA_VERIFY, value: false },
  ];
}
