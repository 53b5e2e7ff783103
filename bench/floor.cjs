// The floor for bench/hsmbyok.mjs: the fewest PKCS#11 calls that produce the same blob hsmbyok does
// (two-step: OAEP-SHA1 wrap of an ephemeral AES-256 key + RFC 5649 wrap of the target), no validation,
// no output formatting. Usage: node floor.cjs LIB TOKEN_LABEL KEY_LABEL KEK_PEM generate|existing BITS
// The PIN comes from env BENCH_PIN. Prints the wrapped length so the work cannot be skipped.
const pkcs11js = require('pkcs11js');
const { createPublicKey } = require('node:crypto');
const [lib, tokenLabel, keyLabel, kekPemPath, mode, bitsText] = process.argv.slice(2);
const p = new pkcs11js.PKCS11();
p.load(lib);
p.C_Initialize();
try {
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === tokenLabel);
  const s = p.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
  p.C_Login(s, pkcs11js.CKU_USER, process.env.BENCH_PIN);
  let priv;
  if (mode === 'generate') {
    const id = Buffer.from(keyLabel);
    const keys = p.C_GenerateKeyPair(
      s,
      { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_LABEL, value: keyLabel },
        { type: pkcs11js.CKA_ID, value: id },
        { type: pkcs11js.CKA_MODULUS_BITS, value: Number(bitsText) },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        { type: pkcs11js.CKA_VERIFY, value: true },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_LABEL, value: keyLabel },
        { type: pkcs11js.CKA_ID, value: id },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
      ],
    );
    priv = keys.privateKey;
  } else {
    p.C_FindObjectsInit(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_LABEL, value: keyLabel },
    ]);
    priv = p.C_FindObjects(s, 1)[0];
    p.C_FindObjectsFinal(s);
  }
  const jwk = createPublicKey(require('node:fs').readFileSync(kekPemPath)).export({ format: 'jwk' });
  const kek = p.C_CreateObject(s, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_MODULUS, value: Buffer.from(jwk.n, 'base64url') },
    { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from(jwk.e, 'base64url') },
  ]);
  const aes = p.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_WRAP, value: true },
  ]);
  const oaep = {
    mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
    parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, source: 1 },
  };
  const a = p.C_WrapKey(s, oaep, kek, aes, Buffer.alloc(8192));
  const b = p.C_WrapKey(s, { mechanism: 0x210a }, aes, priv, Buffer.alloc(8192));
  p.C_DestroyObject(s, aes);
  p.C_DestroyObject(s, kek);
  p.C_Logout(s);
  p.C_CloseSession(s);
  process.stdout.write(`${a.length + b.length}\n`);
} finally {
  p.C_Finalize();
}
