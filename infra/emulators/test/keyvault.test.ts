import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  generateKeyPairSync,
  type KeyObject,
  publicEncrypt,
  randomBytes,
  verify,
} from 'node:crypto';
import { request } from 'node:https';
import type { KeyClient, KeyVaultKey } from '@azure/keyvault-keys';
import { toPkcs8Der } from '@byok/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_TOKEN, type KeyVaultEmulator, startKeyVaultEmulator } from '../src/index.js';
import { byokFile, cryptoClient, kekPublicKey, keyClient, tempDir } from './helpers.js';

interface RestFailure {
  statusCode?: number;
  code?: string;
  message: string;
}

async function failure(p: Promise<unknown>): Promise<RestFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Error) return err as Error & RestFailure;
    throw err;
  }
  throw new Error('expected the call to fail, it succeeded');
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(
  emu: KeyVaultEmulator,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; ca?: string | null } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(
      `${emu.url}${path}`,
      {
        method,
        ...(opts.ca === null ? {} : { ca: opts.ca ?? emu.caCertPem }),
        headers: {
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const data = Buffer.from('ceremony 42: the custodians approve this key');

describe('Key Vault emulator (vault mode) with @azure/keyvault-keys', () => {
  const dir = tempDir('kv');
  let emu: KeyVaultEmulator;
  let client: KeyClient;
  let kek: KeyVaultKey;
  let kekPub: KeyObject;

  beforeAll(async () => {
    emu = await startKeyVaultEmulator({ stateDir: dir.path, mode: 'vault' });
    client = keyClient(emu);
    kek = await client.createRsaKey('kek-1', { hsm: true, keySize: 2048, keyOps: ['import'] });
    kekPub = kekPublicKey(kek);
  });

  afterAll(async () => {
    await emu?.close();
    dir.remove();
  });

  it('creates the KEK as RSA-HSM 2048 with key_ops exactly ["import"]', () => {
    expect(kek.keyType).toBe('RSA-HSM');
    expect(kek.keyOperations).toEqual(['import']);
    expect(kekPub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(kek.id).toMatch(new RegExp(`^${emu.url}/keys/kek-1/[0-9a-f]{32}$`));
  });

  it('trusts the emulator through its CA, and only through it', async () => {
    const ok = await raw(emu, 'GET', '/_emulator/health');
    expect(ok.status).toBe(200);
    const err = await failure(raw(emu, 'GET', '/_emulator/health', { ca: null }));
    expect(err.message).toMatch(/self[- ]signed|unable to verify|local issuer/i);
  });

  it('answers 401 with the bearer challenge without a token, and rejects unknown tokens', async () => {
    const res = await raw(emu, 'GET', '/keys?api-version=7.5');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(
      /^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[^"]+", resource="https:\/\/vault\.azure\.net"$/,
    );
    expect(JSON.parse(res.body).error.code).toBe('Unauthorized');
    expect((await raw(emu, 'GET', '/keys?api-version=7.5', { token: 'stolen' })).status).toBe(401);
    expect((await raw(emu, 'GET', '/keys?api-version=7.5', { token: EMULATOR_TOKEN })).status).toBe(200);
  });

  it('imports an RSA-2048 BYOK blob and signs (RS256, PS256) and decrypts with it', async () => {
    const target = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const t = byokFile(kekPub, kek.id ?? '', toPkcs8Der(target.privateKey));
    const imported = await client.importKey('rsa-target', {
      kty: 'RSA-HSM',
      keyOps: ['sign', 'verify', 'encrypt', 'decrypt'],
      t,
    });
    expect(imported.keyType).toBe('RSA-HSM');
    expect(imported.keyOperations).toEqual(['sign', 'verify', 'encrypt', 'decrypt']);
    // The public key Key Vault reports is the one we wrapped.
    const reported = kekPublicKey(imported).export({ type: 'spki', format: 'der' });
    expect(reported.equals(target.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);

    const cc = cryptoClient(emu, imported);
    const rs = await cc.signData('RS256', data);
    expect(verify('sha256', data, target.publicKey, rs.result)).toBe(true);
    const ps = await cc.signData('PS256', data);
    const pssKey = {
      key: target.publicKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    };
    expect(verify('sha256', data, pssKey, ps.result)).toBe(true);
    expect(verify('sha256', Buffer.from('another message'), pssKey, ps.result)).toBe(false);
    // Remote verify of the digest (the SDK's local verifyData checks PS256 with PKCS#1 v1.5 padding, so it is
    // not a test of anything here).
    const digest = createHash('sha256').update(data).digest();
    expect((await cc.verify('PS256', digest, ps.result)).result).toBe(true);
    expect((await cc.verify('RS256', digest, ps.result)).result).toBe(false);
    expect((await cc.verify('RS256', digest, rs.result)).result).toBe(true);

    const ct = publicEncrypt(
      { key: target.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      data,
    );
    const pt = await cc.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: ct });
    expect(Buffer.from(pt.result).equals(data)).toBe(true);
  });

  for (const [crv, nodeCurve, alg, hash] of [
    ['P-256', 'prime256v1', 'ES256', 'sha256'],
    ['P-384', 'secp384r1', 'ES384', 'sha384'],
    ['P-521', 'secp521r1', 'ES512', 'sha512'],
    ['P-256K', 'secp256k1', 'ES256K', 'sha256'],
  ] as const) {
    it(`imports an EC ${crv} BYOK blob and signs ${alg} in the emulator`, async () => {
      const target = generateKeyPairSync('ec', { namedCurve: nodeCurve });
      const t = byokFile(kekPub, kek.id ?? '', toPkcs8Der(target.privateKey));
      const name = `ec-${crv.toLowerCase()}`;
      const imported = await client.importKey(name, { kty: 'EC-HSM', crv, keyOps: ['sign', 'verify'], t });
      expect(imported.keyType).toBe('EC-HSM');
      expect(imported.key?.crv).toBe(crv);
      const sig = await cryptoClient(emu, imported).signData(alg, data);
      expect(verify(hash, data, { key: target.publicKey, dsaEncoding: 'ieee-p1363' }, sig.result)).toBe(true);
      expect(
        verify(
          hash,
          Buffer.from('tampered'),
          { key: target.publicKey, dsaEncoding: 'ieee-p1363' },
          sig.result,
        ),
      ).toBe(false);
    });
  }

  it('accepts SoftHSM-style zero padding after the PKCS#8 DER', async () => {
    const target = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = toPkcs8Der(target.privateKey);
    const padded = Buffer.concat([der, Buffer.alloc(8 - (der.length % 8 || 8))]);
    const imported = await client.importKey('ec-padded', {
      kty: 'EC-HSM',
      crv: 'P-256',
      keyOps: ['sign', 'verify'],
      t: byokFile(kekPub, kek.id ?? '', padded),
    });
    const sig = await cryptoClient(emu, imported).signData('ES256', data);
    expect(verify('sha256', data, { key: target.publicKey, dsaEncoding: 'ieee-p1363' }, sig.result)).toBe(
      true,
    );
  });

  it('refuses a KEK whose key_ops are more than ["import"]', async () => {
    const loose = await client.createRsaKey('kek-loose', {
      hsm: true,
      keySize: 2048,
      keyOps: ['import', 'sign'],
    });
    const target = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const t = byokFile(kekPublicKey(loose), loose.id ?? '', toPkcs8Der(target.privateKey));
    const err = await failure(client.importKey('via-loose', { kty: 'RSA-HSM', t }));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('BadParameter');
    expect(err.message).toMatch(/key_ops exactly \["import"\]/);
  });

  it('has the KEK refuse every operation but import (403 KeyOperationForbidden)', async () => {
    // Hide key_ops from the SDK so its client-side check does not stop the call before the service sees it.
    const cc = cryptoClient(emu, { ...kek, keyOperations: undefined });
    const err = await failure(cc.sign('RS256', Buffer.alloc(32, 1)));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('Forbidden');
    expect(err.message).toBe('Operation sign is not permitted on this key.');
    const rawRes = await raw(emu, 'POST', `/keys/kek-1/${kek.properties.version}/decrypt?api-version=7.5`, {
      token: EMULATOR_TOKEN,
      body: { alg: 'RSA-OAEP', value: Buffer.alloc(256).toString('base64url') },
    });
    expect(rawRes.status).toBe(403);
    expect(JSON.parse(rawRes.body)).toEqual({
      error: {
        code: 'Forbidden',
        message: 'Operation decrypt is not permitted on this key.',
        innererror: { code: 'KeyOperationForbidden' },
      },
    });
  });

  it('rejects a corrupted blob with 400 BadParameter', async () => {
    const target = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const good = JSON.parse(
      Buffer.from(byokFile(kekPub, kek.id ?? '', toPkcs8Der(target.privateKey))).toString(),
    );
    const ct = Buffer.from(good.ciphertext, 'base64url');
    ct[ct.length - 5] = (ct[ct.length - 5] ?? 0) ^ 0x01;
    const bad = { ...good, ciphertext: ct.toString('base64url') };
    const err = await failure(
      client.importKey('corrupt', { kty: 'RSA-HSM', t: Buffer.from(JSON.stringify(bad)) }),
    );
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('BadParameter');
    expect(err.message).toMatch(/could not be unwrapped/);
    const notJson = await failure(
      client.importKey('corrupt', { kty: 'RSA-HSM', t: Buffer.from('not a blob') }),
    );
    expect(notJson.message).toMatch(/not a valid BYOK blob/);
    await expect(client.getKey('corrupt')).rejects.toMatchObject({ statusCode: 404, code: 'KeyNotFound' });
  });

  it('rejects a blob wrapped for another KEK, and one naming a KEK that does not exist', async () => {
    const other = await client.createRsaKey('kek-2', { hsm: true, keySize: 3072, keyOps: ['import'] });
    const target = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // Wrapped under kek-2 but labelled kek-1: the unwrap with kek-1's private key must fail.
    const t = byokFile(kekPublicKey(other), kek.id ?? '', toPkcs8Der(target.privateKey));
    const err = await failure(client.importKey('wrong-kek', { kty: 'RSA-HSM', t }));
    expect(err.statusCode).toBe(400);
    expect(err.message).toMatch(/could not be unwrapped with the key exchange key .*kek-1/);
    const ghost = byokFile(
      kekPub,
      `${emu.url}/keys/no-such-kek/0123456789abcdef0123456789abcdef`,
      toPkcs8Der(target.privateKey),
    );
    const err2 = await failure(client.importKey('ghost', { kty: 'RSA-HSM', t: ghost }));
    expect(err2.statusCode).toBe(400);
    expect(err2.message).toMatch(/no-such-kek.*was not found in this vault/);
  });

  it('refuses oct-HSM import outside Managed HSM', async () => {
    const t = byokFile(kekPub, kek.id ?? '', randomBytes(32));
    const err = await failure(client.importKey('aes-in-vault', { kty: 'oct-HSM', t }));
    expect(err.statusCode).toBe(400);
    expect(err.message).toMatch(/Managed HSM/);
  });

  it('lists versions, deletes through the SDK poller, and purges', async () => {
    await client.createEcKey('to-delete', { hsm: true, curve: 'P-256' });
    await client.createEcKey('to-delete', { hsm: true, curve: 'P-256' });
    const versions = [];
    for await (const v of client.listPropertiesOfKeyVersions('to-delete')) versions.push(v.version);
    expect(versions).toHaveLength(2);
    const poller = await client.beginDeleteKey('to-delete');
    const deleted = await poller.pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${emu.url}/deletedkeys/to-delete`);
    await expect(client.getKey('to-delete')).rejects.toMatchObject({ statusCode: 404 });
    const conflict = await failure(client.createEcKey('to-delete', { hsm: true }));
    expect(conflict.statusCode).toBe(409);
    await client.purgeDeletedKey('to-delete');
    await expect(client.getDeletedKey('to-delete')).rejects.toMatchObject({ statusCode: 404 });
    expect((await client.createEcKey('to-delete', { hsm: true })).name).toBe('to-delete');
  });

  it('answers 429 with Retry-After and the SDK retries to success', async () => {
    emu.faults.inject('throttle', { count: 2 });
    const before = emu.faults.injected;
    const got = await client.getKey('kek-1');
    expect(got.id).toBe(kek.id);
    expect(emu.faults.injected - before).toBe(2);
  });

  it('answers 500 when told to, and the SDK retries', async () => {
    emu.faults.inject('error');
    const got = await client.getKey('kek-1');
    expect(got.id).toBe(kek.id);
    expect(emu.faults.pending).toBe(0);
  });

  it('hangs a request when told to, so client timeouts are exercised', async () => {
    emu.faults.inject('hang');
    const err = await failure(client.getKey('kek-1', { abortSignal: AbortSignal.timeout(300) }));
    expect(err.message).toMatch(/abort/i);
    expect((await client.getKey('kek-1')).id).toBe(kek.id);
  });

  it('keeps its keys across a restart (same state folder, same CA)', async () => {
    const target = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const imported = await client.importKey('persisted', {
      kty: 'RSA-HSM',
      keyOps: ['sign'],
      t: byokFile(kekPub, kek.id ?? '', toPkcs8Der(target.privateKey)),
    });
    const ca = emu.caCertPem;
    await emu.close();
    emu = await startKeyVaultEmulator({ stateDir: dir.path, mode: 'vault' });
    expect(emu.caCertPem).toBe(ca);
    client = keyClient(emu);
    const again = await client.getKey('persisted');
    expect(again.properties.version).toBe(imported.properties.version);
    const sig = await cryptoClient(emu, again).signData('RS256', data);
    expect(verify('sha256', data, target.publicKey, sig.result)).toBe(true);
  });
});

describe('Key Vault emulator (Managed HSM mode): oct-HSM BYOK', () => {
  const dir = tempDir('mhsm');
  let emu: KeyVaultEmulator;
  let client: KeyClient;

  beforeAll(async () => {
    emu = await startKeyVaultEmulator({ stateDir: dir.path, mode: 'managedhsm' });
    client = keyClient(emu);
  });

  afterAll(async () => {
    await emu?.close();
    dir.remove();
  });

  it('challenges with the Managed HSM resource', async () => {
    const res = await raw(emu, 'GET', '/keys?api-version=7.5');
    expect(res.headers['www-authenticate']).toMatch(/resource="https:\/\/managedhsm\.azure\.net"$/);
  });

  it('imports an AES-256 key and uses it for A256GCM, A256CBCPAD and A256KW exactly as node:crypto would', async () => {
    const kek = await client.createRsaKey('kek', { hsm: true, keySize: 4096, keyOps: ['import'] });
    const aes = randomBytes(32);
    const imported = await client.importKey('aes-target', {
      kty: 'oct-HSM',
      keyOps: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
      t: byokFile(kekPublicKey(kek), kek.id ?? '', aes),
    });
    expect(imported.keyType).toBe('oct-HSM');
    expect(imported.key?.k).toBeUndefined();
    const cc = cryptoClient(emu, imported);

    const aad = Buffer.from('ceremony-42');
    const gcm = await cc.encrypt({ algorithm: 'A256GCM', plaintext: data, additionalAuthenticatedData: aad });
    const d = createDecipheriv('aes-256-gcm', aes, Buffer.from(gcm.iv ?? []));
    d.setAuthTag(Buffer.from(gcm.authenticationTag ?? []));
    d.setAAD(aad);
    expect(Buffer.concat([d.update(gcm.result), d.final()]).equals(data)).toBe(true);
    const back = await cc.decrypt({
      algorithm: 'A256GCM',
      ciphertext: gcm.result,
      iv: gcm.iv ?? new Uint8Array(),
      authenticationTag: gcm.authenticationTag ?? new Uint8Array(),
      additionalAuthenticatedData: aad,
    });
    expect(Buffer.from(back.result).equals(data)).toBe(true);

    const iv = randomBytes(16);
    const cbc = await cc.encrypt({ algorithm: 'A256CBCPAD', plaintext: data, iv });
    const c = createCipheriv('aes-256-cbc', aes, iv);
    expect(Buffer.from(cbc.result).equals(Buffer.concat([c.update(data), c.final()]))).toBe(true);

    const dek = randomBytes(32);
    const wrapped = await cc.wrapKey('A256KW', dek);
    const kw = createCipheriv('id-aes256-wrap', aes, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
    expect(Buffer.from(wrapped.result).equals(Buffer.concat([kw.update(dek), kw.final()]))).toBe(true);
    expect(Buffer.from((await cc.unwrapKey('A256KW', wrapped.result)).result).equals(dek)).toBe(true);
  });

  it('creates oct-HSM keys and refuses software key types', async () => {
    const oct = await client.createOctKey('oct-made', { hsm: true, keySize: 256 });
    expect(oct.keyType).toBe('oct-HSM');
    const err = await failure(client.createRsaKey('soft-rsa', { keySize: 2048 }));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('BadParameter');
  });
});
