// The floor for bench/hsmbyok.mjs: a bare pkcs11js script making the same PKCS#11 calls hsmbyok makes for a
// two-step wrap (as recorded under pkcs11-spy: token lookup, mechanism list, the key lookups and attribute
// reads of its checks, the KEK import, OAEP-SHA1 wrap of an ephemeral AES-256 key + RFC 5649 wrap of the
// target) and writing targetBlob.byok, with none of the validation, messages or safety around them.
// Usage: node floor.cjs LIB TOKEN_LABEL KEY_LABEL KEK_PEM generate|existing BITS
// The PIN comes from env BENCH_PIN. Writes targetBlob.byok in the current directory; prints how long key
// generation took, as hsmbyok's INFO line does.
// FLOOR_ADDON=1: pkcs11js's compiled addon instead of its index.js, as hsmbyok binds it (see
// packages/hsm-pkcs11/src/native.ts): the strictest floor, measuring only what hsmbyok adds of its own.
const addon = process.env.FLOOR_ADDON === '1';
const pkcs11js = addon ? require('pkcs11js/build/Release/pkcs11.node') : require('pkcs11js');
const { createPublicKey } = require('node:crypto');
const { readFileSync, writeFileSync } = require('node:fs');

const [lib, tokenLabel, keyLabel, kekPemPath, mode, bitsText] = process.argv.slice(2);
const p = new pkcs11js.PKCS11();
const attr = (type, value) => (value === undefined ? { type } : { type, value });

function find(s, template) {
  p.C_FindObjectsInit(s, template);
  const found = p.C_FindObjects(s, 2);
  p.C_FindObjectsFinal(s);
  return found;
}

p.load(lib);
p.C_Initialize();
try {
  p.C_GetInfo();
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === tokenLabel);
  for (const m of p.C_GetMechanismList(slot)) p.C_GetMechanismInfo(slot, m);
  const s = p.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
  p.C_Login(s, pkcs11js.CKU_USER, process.env.BENCH_PIN);
  const byLabel = (cls) => [
    attr(pkcs11js.CKA_CLASS, cls),
    attr(pkcs11js.CKA_LABEL, keyLabel),
    attr(pkcs11js.CKA_TOKEN, true),
  ];
  let [priv] = find(s, byLabel(pkcs11js.CKO_PRIVATE_KEY));
  if (priv) {
    p.C_GetAttributeValue(s, priv, [
      attr(pkcs11js.CKA_KEY_TYPE),
      attr(pkcs11js.CKA_ID),
      attr(pkcs11js.CKA_TOKEN),
      attr(pkcs11js.CKA_PRIVATE),
    ]);
  }
  find(s, byLabel(pkcs11js.CKO_SECRET_KEY));
  const state = [
    attr(pkcs11js.CKA_EXTRACTABLE),
    attr(pkcs11js.CKA_SENSITIVE),
    attr(pkcs11js.CKA_TOKEN),
    attr(pkcs11js.CKA_PRIVATE),
  ];
  if (priv) {
    p.C_GetAttributeValue(s, priv, state);
    p.C_GetAttributeValue(s, priv, [attr(pkcs11js.CKA_WRAP_WITH_TRUSTED)]);
    p.C_GetAttributeValue(s, priv, [attr(pkcs11js.CKA_MODULUS)]);
    const pub = [
      attr(pkcs11js.CKA_CLASS, pkcs11js.CKO_PUBLIC_KEY),
      attr(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_RSA),
    ];
    find(s, [...pub, attr(pkcs11js.CKA_ID, Buffer.from(keyLabel))]);
    const [pubKey] = find(s, [...pub, attr(pkcs11js.CKA_LABEL, keyLabel)]);
    p.C_GetAttributeValue(s, pubKey, [attr(pkcs11js.CKA_MODULUS)]);
    p.C_GetAttributeValue(s, pubKey, [attr(pkcs11js.CKA_MODULUS), attr(pkcs11js.CKA_PUBLIC_EXPONENT)]);
  }
  p.C_GetMechanismInfo(slot, pkcs11js.CKM_RSA_PKCS_OAEP);
  if (priv) {
    p.C_GetAttributeValue(s, priv, [attr(pkcs11js.CKA_EXTRACTABLE)]);
    p.C_GetAttributeValue(s, priv, [attr(pkcs11js.CKA_WRAP_WITH_TRUSTED)]);
  }
  const jwk = createPublicKey(readFileSync(kekPemPath)).export({ format: 'jwk' });
  const kek = p.C_CreateObject(s, [
    attr(pkcs11js.CKA_CLASS, pkcs11js.CKO_PUBLIC_KEY),
    attr(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_RSA),
    attr(pkcs11js.CKA_MODULUS, Buffer.from(jwk.n, 'base64url')),
    attr(pkcs11js.CKA_PUBLIC_EXPONENT, Buffer.from(jwk.e, 'base64url')),
    attr(pkcs11js.CKA_TOKEN, false),
    attr(pkcs11js.CKA_WRAP, true),
  ]);
  let keygenMs;
  if (mode === 'generate') {
    const id = Buffer.from(keyLabel);
    const started = performance.now();
    const keys = p.C_GenerateKeyPair(
      s,
      { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        attr(pkcs11js.CKA_TOKEN, true),
        attr(pkcs11js.CKA_LABEL, keyLabel),
        attr(pkcs11js.CKA_ID, id),
        attr(pkcs11js.CKA_MODULUS_BITS, Number(bitsText)),
        attr(pkcs11js.CKA_PUBLIC_EXPONENT, Buffer.from([1, 0, 1])),
        attr(pkcs11js.CKA_VERIFY, true),
      ],
      [
        attr(pkcs11js.CKA_TOKEN, true),
        attr(pkcs11js.CKA_PRIVATE, true),
        attr(pkcs11js.CKA_LABEL, keyLabel),
        attr(pkcs11js.CKA_ID, id),
        attr(pkcs11js.CKA_SENSITIVE, true),
        attr(pkcs11js.CKA_EXTRACTABLE, true),
        attr(pkcs11js.CKA_SIGN, true),
      ],
    );
    keygenMs = Math.round(performance.now() - started);
    priv = keys.privateKey;
    p.C_GetAttributeValue(s, priv, [attr(pkcs11js.CKA_KEY_TYPE)]);
    p.C_GetAttributeValue(s, priv, state);
    p.C_GetAttributeValue(s, priv, [attr(pkcs11js.CKA_WRAP_WITH_TRUSTED)]);
    p.C_GetAttributeValue(s, priv, [attr(pkcs11js.CKA_MODULUS)]);
    p.C_GetAttributeValue(s, keys.publicKey, [
      attr(pkcs11js.CKA_MODULUS),
      attr(pkcs11js.CKA_PUBLIC_EXPONENT),
    ]);
    p.C_GetAttributeValue(s, priv, [attr(pkcs11js.CKA_PUBLIC_EXPONENT)]);
  }
  const aes = p.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    attr(pkcs11js.CKA_TOKEN, false),
    attr(pkcs11js.CKA_VALUE_LEN, 32),
    attr(pkcs11js.CKA_SENSITIVE, true),
    attr(pkcs11js.CKA_EXTRACTABLE, true),
    attr(pkcs11js.CKA_WRAP, true),
  ]);
  const oaep = {
    mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
    parameter: {
      type: pkcs11js.CK_PARAMS_RSA_OAEP,
      hashAlg: pkcs11js.CKM_SHA_1,
      mgf: pkcs11js.CKG_MGF1_SHA1,
      source: 1,
    },
  };
  // The addon returns how many bytes it wrote; index.js returns that part of the buffer.
  const filled = (buffer, result) => (typeof result === 'number' ? buffer.subarray(0, result) : result);
  const outA = Buffer.alloc(8192);
  const a = filled(outA, p.C_WrapKey(s, oaep, kek, aes, outA));
  const outB = Buffer.alloc(8192);
  const b = filled(outB, p.C_WrapKey(s, { mechanism: 0x210a }, aes, priv, outB));
  p.C_DestroyObject(s, aes);
  p.C_DestroyObject(s, kek);
  p.C_Logout(s);
  p.C_CloseSession(s);
  const blob = { schema_version: '1.0.0', header: { kid: 'kek', alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' } };
  blob.ciphertext = Buffer.concat([a, b]).toString('base64url');
  blob.generator = 'floor';
  writeFileSync('targetBlob.byok', JSON.stringify(blob));
  if (keygenMs !== undefined) process.stdout.write(`generated in ${keygenMs} ms\n`);
} finally {
  p.C_Finalize();
}
