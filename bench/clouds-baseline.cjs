// Baseline for bench/clouds.mjs: the same SDK and PKCS#11 calls as one `hsmbyok azure byok` /
// `hsmbyok aws byok` run, made directly in a minimal script (no validation, no policies, no output, no retries
// of our own). Prints {"steps": {prepare, wrap, import, verify}} in seconds.
// Usage: node clouds-baseline.cjs azure|aws <name> (env: BENCH_* set by clouds.mjs, SOFTHSM2_CONF)
const { createPublicKey, createVerify, randomBytes } = require('node:crypto');

async function main() {
  const [cloud, name] = process.argv.slice(2);
  const env = process.env;
  const hsm = await import('@byok/hsm-pkcs11');
  const core = await import('@byok/core');
  const steps = {};
  const t = () => performance.now();
  const lap = (step, since) => (steps[step] = (t() - since) / 1000);

  const openHsm = () => {
    const module = hsm.Pkcs11Module.load(env.BENCH_LIBRARY);
    const token = module.findToken(env.BENCH_TOKEN);
    const session = module.openSession(token.slotId);
    session.login(env.BENCH_PIN);
    return { module, token, session };
  };
  const flags = new Set([
    'CKF_TOKEN',
    'CKF_EXTRACTABLE',
    'CKF_SIGN',
    'CKF_VERIFY',
    'CKF_ENCRYPT',
    'CKF_DECRYPT',
  ]);

  if (cloud === 'azure') {
    const { KeyClient, CryptographyClient } = await import('@azure/keyvault-keys');
    const credential = {
      getToken: async () => ({ token: env.BENCH_AZURE_TOKEN, expiresOnTimestamp: Date.now() + 3.6e6 }),
    };
    const opts = { tlsOptions: { ca: env.BENCH_CA_PEM }, disableChallengeResourceVerification: true };
    const client = new KeyClient(env.BENCH_VAULT, credential, opts);
    let s = t();
    const kek = await client.createRsaKey(`${name}-kek`, { hsm: true, keySize: 2048, keyOps: ['import'] });
    const b64 = (v) => Buffer.from(v).toString('base64url');
    const kekPub = createPublicKey({
      key: { kty: 'RSA', n: b64(kek.key.n), e: b64(kek.key.e) },
      format: 'jwk',
    });
    lap('prepare', s);
    s = t();
    const h = openHsm();
    const spec = { kind: 'rsa', bits: 2048 };
    const key = h.session.generateTargetKey(name, spec, flags);
    const kekHandle = h.session.importKek(core.kekFromPublicKey(kekPub));
    const plan = hsm.planWrap(
      h.module.mechanisms(h.token.slotId),
      { kind: 'two-step', oaepHash: 'sha1', kwpName: 'CKM_AES_KWP' },
      spec,
    );
    const wrapped = h.session.wrap(key, kekHandle, plan);
    const blob = core.encodeByokBlob({
      schemaVersion: '1.0.0',
      kid: kek.id,
      enc: 'CKM_RSA_AES_KEY_WRAP',
      ciphertext: wrapped,
      generator: 'baseline',
    });
    lap('wrap', s);
    s = t();
    const imported = await client.importKey(
      name,
      { kty: 'RSA-HSM', keyOps: ['sign', 'verify'], t: Buffer.from(blob) },
      { hardwareProtected: true },
    );
    lap('import', s);
    s = t();
    const crypto = new CryptographyClient(imported, credential, opts);
    const message = randomBytes(32);
    const signed = await crypto.signData('RS256', message);
    if (!createVerify('sha256').update(message).verify(key.publicKey, Buffer.from(signed.result)))
      throw new Error('verify failed');
    lap('verify', s);
    h.session.close();
    h.module.close();
  } else {
    const kms = await import('@aws-sdk/client-kms');
    const client = new kms.KMSClient({ endpoint: env.BENCH_KMS, region: env.BENCH_REGION });
    let s = t();
    const created = await client.send(
      new kms.CreateKeyCommand({
        Origin: 'EXTERNAL',
        KeySpec: 'SYMMETRIC_DEFAULT',
        KeyUsage: 'ENCRYPT_DECRYPT',
      }),
    );
    const keyId = created.KeyMetadata.Arn;
    const params = await client.send(
      new kms.GetParametersForImportCommand({
        KeyId: keyId,
        WrappingAlgorithm: 'RSAES_OAEP_SHA_1',
        WrappingKeySpec: 'RSA_2048',
      }),
    );
    const wrappingKey = createPublicKey({ key: Buffer.from(params.PublicKey), format: 'der', type: 'spki' });
    lap('prepare', s);
    s = t();
    const h = openHsm();
    const key = h.session.generateTargetKey(name, { kind: 'aes', bits: 256 }, flags);
    const wrapped = h.session.wrapRsaOaep(
      key,
      h.session.importKek(core.kekFromPublicKey(wrappingKey)),
      'sha1',
    );
    lap('wrap', s);
    s = t();
    await client.send(
      new kms.ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: params.ImportToken,
        EncryptedKeyMaterial: wrapped,
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      }),
    );
    lap('import', s);
    s = t();
    const plaintext = randomBytes(32);
    const enc = await client.send(new kms.EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
    const dec = await client.send(new kms.DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
    if (!Buffer.from(dec.Plaintext).equals(plaintext)) throw new Error('round trip failed');
    lap('verify', s);
    client.destroy();
    h.session.close();
    h.module.close();
  }
  process.stdout.write(`${JSON.stringify({ steps })}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
