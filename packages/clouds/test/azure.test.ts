/**
 * Azure Key Vault / Managed HSM against the emulator with the real @azure/keyvault-keys SDK, target keys in
 * SoftHSM wrapped by @byok/hsm-pkcs11 (two-step, OAEP SHA-1 + RFC 5649), each import verified against the
 * HSM's copy of the key.
 */
import { generateKeyPairSync } from 'node:crypto';
import { KeyClient } from '@azure/keyvault-keys';
import { spkiFingerprint } from '@byok/core';
import { EMULATOR_TOKEN, emulatorCredential } from '@byok/emulators';
import type { TargetKey } from '@byok/hsm-pkcs11';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AzureKeyVaultTarget,
  type CloudErrorCode,
  type CloudKeySpec,
  type ImportPreparation,
  isCloudError,
  parseTargetConfig,
} from '../src/index.js';
import {
  type AzureFixture,
  azureFixture,
  generateTarget,
  type Hsm,
  hsmWrap,
  softHsm,
  uniqueName,
} from './helpers.js';

let hsm: Hsm;
let vault: AzureFixture;
let mhsm: AzureFixture;

beforeAll(async () => {
  hsm = await softHsm();
  vault = await azureFixture('vault');
  mhsm = await azureFixture('managedhsm');
});

afterAll(async () => {
  await vault?.close();
  await mhsm?.close();
  await hsm?.close();
});

function rawClient(f: AzureFixture): KeyClient {
  return new KeyClient(f.kv.url, emulatorCredential(), {
    tlsOptions: { ca: f.kv.caCertPem },
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
  });
}

async function exists(f: AzureFixture, name: string): Promise<boolean> {
  try {
    await rawClient(f).getKey(name);
    return true;
  } catch (err) {
    if (err instanceof Error && 'statusCode' in err && err.statusCode === 404) return false;
    throw err;
  }
}

async function versions(f: AzureFixture, name: string): Promise<number> {
  let n = 0;
  for await (const _ of rawClient(f).listPropertiesOfKeyVersions(name)) n++;
  return n;
}

async function expectCode(promise: Promise<unknown>, code: CloudErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect(isCloudError(err) ? err.code : err).toBe(code);
    const message = (err as Error).message;
    // One line a custodian can act on.
    expect(message).not.toContain('\n');
    return err as Error;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

async function prepare(
  f: AzureFixture,
  spec: CloudKeySpec,
  keyName = uniqueName('key'),
): Promise<ImportPreparation> {
  return f.target.prepareImport({ keyName, spec, hsmOaepHashes: ['sha1'], wrappingKeyBits: 2048 });
}

describe('Azure Key Vault: every key type, wrapped in SoftHSM, imported and used', () => {
  const specs: CloudKeySpec[] = [
    { kind: 'rsa', bits: 2048 },
    { kind: 'rsa', bits: 3072 },
    { kind: 'rsa', bits: 4096 },
    { kind: 'ec', curve: 'P-256' },
    { kind: 'ec', curve: 'P-384' },
    { kind: 'ec', curve: 'P-521' },
    { kind: 'ec', curve: 'secp256k1' },
  ];
  for (const spec of specs) {
    it(`${spec.kind} ${'bits' in spec ? spec.bits : spec.curve}`, async () => {
      const prep = await prepare(vault, spec);
      expect(prep.cloud).toBe('azure-keyvault');
      expect(prep.wrap).toEqual({ format: 'rsa-aes-key-wrap', oaepHash: 'sha1', encoding: 'pkcs8' });
      expect(prep.kek.id.startsWith(`${vault.kv.url}/keys/${prep.keyName}-kek/`)).toBe(true);
      expect(prep.kek.bits).toBe(2048);
      expect(prep.created).toEqual([{ kind: 'azure-kek', id: prep.kek.id }]);
      expect(prep.notes.join(' ')).toContain('SHA-1');

      const target = generateTarget(hsm, spec);
      const wrapped = hsmWrap(hsm, prep, target);
      const imported = await vault.target.importWrappedKey(prep, wrapped, { generator: 'clouds test' });
      expect(imported.keyId.startsWith(`${vault.kv.url}/keys/${prep.keyName}/`)).toBe(true);
      expect(imported.publicKeyFingerprint).toBe(spkiFingerprint(target.publicKey ?? missing()));

      const verification = await vault.target.verifyImport(imported, { publicKey: target.publicKey });
      expect(verification.checks.map((c) => c.id)).toEqual(['public-key-equal', 'cloud-sign-hsm-verify']);

      const cleanup = await vault.target.cleanup(prep, { deleteKek: true });
      expect(cleanup.deleted).toEqual([prep.kek.id]);
      expect(await exists(vault, `${prep.keyName}-kek`)).toBe(false);
      expect(await exists(vault, prep.keyName)).toBe(true);
    });
  }

  it('verification fails when the HSM key is another key', async () => {
    const spec: CloudKeySpec = { kind: 'ec', curve: 'P-256' };
    const prep = await prepare(vault, spec);
    const target = generateTarget(hsm, spec);
    const imported = await vault.target.importWrappedKey(prep, hsmWrap(hsm, prep, target));
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    const err = await expectCode(
      vault.target.verifyImport(imported, { publicKey: other }),
      'VERIFICATION_FAILED',
    );
    expect(err.message).toContain('another key was imported');
    await expectCode(vault.target.verifyImport(imported, {}), 'VERIFY_PROOF_MISSING');
  });

  it('RSA with decrypt-only key_ops is verified by HSM-side encryption and cloud decryption', async () => {
    const spec: CloudKeySpec = { kind: 'rsa', bits: 2048 };
    const prep = await vault.target.prepareImport({
      keyName: uniqueName('rsa-dec'),
      spec,
      keyOps: ['decrypt', 'unwrapKey'],
      hsmOaepHashes: ['sha1'],
      wrappingKeyBits: 2048,
    });
    const target = generateTarget(hsm, spec);
    const imported = await vault.target.importWrappedKey(prep, hsmWrap(hsm, prep, target));
    const verification = await vault.target.verifyImport(imported, { publicKey: target.publicKey });
    expect(verification.checks.map((c) => c.id)).toEqual(['public-key-equal', 'hsm-encrypt-cloud-decrypt']);
  });
});

describe('Azure Managed HSM: oct-HSM', () => {
  for (const bits of [128, 256] as const) {
    it(`AES-${bits} imported as oct-HSM and checked against the HSM's AES-CBC`, async () => {
      const spec: CloudKeySpec = { kind: 'aes', bits };
      const prep = await prepare(mhsm, spec);
      expect(prep.cloud).toBe('azure-managedhsm');
      expect(prep.wrap.encoding).toBe('raw');
      const target = generateTarget(hsm, spec);
      const imported = await mhsm.target.importWrappedKey(prep, hsmWrap(hsm, prep, target));
      expect(imported.publicKeyPem).toBeUndefined();
      const port = (t: TargetKey) => (iv: Buffer, pt: Buffer) => hsm.session.encryptAes(t, iv, pt);
      const verification = await mhsm.target.verifyImport(imported, { encryptAesCbc: port(target) });
      expect(verification.checks.map((c) => c.id)).toEqual(['cloud-encrypt-equals-hsm']);
      // Another AES key in the HSM must not pass.
      const other = generateTarget(hsm, spec);
      await expectCode(
        mhsm.target.verifyImport(imported, { encryptAesCbc: port(other) }),
        'VERIFICATION_FAILED',
      );
    });
  }

  it('an RSA key goes into a Managed HSM too', async () => {
    const spec: CloudKeySpec = { kind: 'rsa', bits: 2048 };
    const prep = await prepare(mhsm, spec);
    const target = generateTarget(hsm, spec);
    const imported = await mhsm.target.importWrappedKey(prep, hsmWrap(hsm, prep, target));
    const verification = await mhsm.target.verifyImport(imported, { publicKey: target.publicKey });
    expect(verification.checks).toHaveLength(2);
  });
});

describe('Azure refusals: clear errors, nothing half-done', () => {
  it('refuses oct on a Key Vault before creating anything', async () => {
    const keyName = uniqueName('oct');
    const err = await expectCode(prepare(vault, { kind: 'aes', bits: 256 }, keyName), 'UNSUPPORTED_KEY_SPEC');
    expect(err.message).toContain('Managed HSM');
    expect(await exists(vault, `${keyName}-kek`)).toBe(false);
  });

  it('refuses an HSM that cannot do OAEP SHA-1', async () => {
    const keyName = uniqueName('sha');
    await expectCode(
      vault.target.prepareImport({ keyName, spec: { kind: 'rsa', bits: 2048 }, hsmOaepHashes: ['sha256'] }),
      'OAEP_HASH_UNSUPPORTED',
    );
    expect(await exists(vault, `${keyName}-kek`)).toBe(false);
  });

  it('refuses a reused KEK with extra key_ops, naming them', async () => {
    const kekName = uniqueName('kek-extra');
    await rawClient(vault).createRsaKey(kekName, { hsm: true, keySize: 2048, keyOps: ['import', 'sign'] });
    const err = await expectCode(
      vault.target.prepareImport({
        keyName: uniqueName('k'),
        spec: { kind: 'rsa', bits: 2048 },
        existingKekName: kekName,
      }),
      'KEK_INVALID_OPS',
    );
    expect(err.message).toContain('also allows sign');
  });

  it('refuses a reused KEK of the wrong type (EC-HSM, software RSA)', async () => {
    const ec = uniqueName('kek-ec');
    // The service refuses key_ops import on an EC key, so a wrong-type "KEK" can only have other ops.
    await rawClient(vault).createEcKey(ec, { hsm: true, curve: 'P-256', keyOps: ['sign', 'verify'] });
    await expectCode(
      vault.target.prepareImport({
        keyName: uniqueName('k'),
        spec: { kind: 'rsa', bits: 2048 },
        existingKekName: ec,
      }),
      'KEK_WRONG_TYPE',
    );
    const soft = uniqueName('kek-soft');
    await rawClient(vault).createRsaKey(soft, {
      hsm: false,
      keySize: 2048,
      keyOps: ['wrapKey', 'unwrapKey'],
    });
    const err = await expectCode(
      vault.target.prepareImport({
        keyName: uniqueName('k'),
        spec: { kind: 'rsa', bits: 2048 },
        existingKekName: soft,
      }),
      'KEK_WRONG_TYPE',
    );
    expect(err.message).toContain('software-protected');
  });

  it('reuses a correct existing KEK and does not delete it on cleanup', async () => {
    const kekName = uniqueName('kek-ok');
    await rawClient(vault).createRsaKey(kekName, { hsm: true, keySize: 3072, keyOps: ['import'] });
    const prep = await vault.target.prepareImport({
      keyName: uniqueName('k'),
      spec: { kind: 'rsa', bits: 2048 },
      existingKekName: kekName,
    });
    expect(prep.kek.bits).toBe(3072);
    expect(prep.created).toEqual([]);
    const result = await vault.target.cleanup(prep, { deleteKek: true });
    expect(result.kept).toEqual([prep.kek.id]);
    expect(await exists(vault, kekName)).toBe(true);
  });

  it('tags the KEK with the request tags; only a KEK with the owner tag is owned and discarded', async () => {
    const owner = { tagKey: 'byok-ceremony', tagValue: uniqueName('cer') };
    const keyName = uniqueName('owned');
    const prep = await vault.target.prepareImport({
      keyName,
      spec: { kind: 'rsa', bits: 2048 },
      tags: { [owner.tagKey]: owner.tagValue },
    });
    const kekName = `${keyName}-kek`;
    expect((await rawClient(vault).getKey(kekName)).properties.tags).toMatchObject({
      [owner.tagKey]: owner.tagValue,
      purpose: 'byok-kek',
    });
    expect(await vault.target.ownsKey(kekName, owner)).toBe(true);
    expect(await vault.target.ownsKey(kekName, { ...owner, tagValue: 'another-ceremony' })).toBe(false);

    // A key by another name pattern, untagged: never the owner's, kept by discardOwnedKek.
    const foreign = uniqueName('foreign-kek');
    await rawClient(vault).createRsaKey(foreign, { hsm: true, keySize: 2048, keyOps: ['import'] });
    const keptResult = await vault.target.discardOwnedKek(foreign, owner);
    expect(keptResult.deleted).toEqual([]);
    expect(keptResult.kept).toHaveLength(1);
    expect(await exists(vault, foreign)).toBe(true);

    const discarded = await vault.target.discardOwnedKek(kekName, owner);
    expect(discarded.deleted).toEqual([expect.stringContaining(`/keys/${kekName}`)]);
    expect(prep.kek.id).toContain(`/keys/${kekName}`);
    expect(await exists(vault, kekName)).toBe(false);
    expect((await vault.target.discardOwnedKek(kekName, owner)).notes[0]).toMatch(/nothing to discard/);
  });

  it('refuses to create a KEK over an existing key name', async () => {
    const keyName = uniqueName('taken');
    await rawClient(vault).createRsaKey(`${keyName}-kek`, { hsm: true, keySize: 2048, keyOps: ['import'] });
    await expectCode(prepare(vault, { kind: 'rsa', bits: 2048 }, keyName), 'KEK_NAME_IN_USE');
    expect(await versions(vault, `${keyName}-kek`)).toBe(1);
  });

  it('a corrupted blob is rejected by the vault and creates no key', async () => {
    const spec: CloudKeySpec = { kind: 'rsa', bits: 2048 };
    const prep = await prepare(vault, spec);
    const wrapped = hsmWrap(hsm, prep, generateTarget(hsm, spec));
    const last = wrapped.length - 1;
    wrapped[last] = (wrapped[last] ?? 0) ^ 0x01;
    const err = await expectCode(vault.target.importWrappedKey(prep, wrapped), 'BLOB_REJECTED');
    expect(err.message).toContain('400');
    expect(await exists(vault, prep.keyName)).toBe(false);
    // A blob of impossible length is refused before any request.
    await expectCode(vault.target.importWrappedKey(prep, wrapped.subarray(0, 100)), 'BLOB_REJECTED');
  });

  it('a blob wrapped for another KEK is rejected and creates no key', async () => {
    const spec: CloudKeySpec = { kind: 'ec', curve: 'P-384' };
    const prepA = await prepare(vault, spec);
    const prepB = await prepare(vault, spec);
    const wrappedForB = hsmWrap(hsm, prepB, generateTarget(hsm, spec));
    await expectCode(vault.target.importWrappedKey(prepA, wrappedForB), 'BLOB_REJECTED');
    expect(await exists(vault, prepA.keyName)).toBe(false);
  });

  it('a preparation from another vault is refused', async () => {
    const prep = await prepare(vault, { kind: 'rsa', bits: 2048 });
    await expectCode(mhsm.target.importWrappedKey(prep, Buffer.alloc(300)), 'PREPARATION_MISMATCH');
  });

  it('a wrong bearer token is CLOUD_AUTH_FAILED; an aborted signal is CANCELLED', async () => {
    const config = parseTargetConfig({
      cloud: 'azure',
      vaultUrl: vault.kv.url,
      credential: { kind: 'static-token', token: `${EMULATOR_TOKEN}-wrong` },
      caCertPem: vault.kv.caCertPem,
      disableChallengeResourceVerification: true,
      retry: { maxAttempts: 1 },
    });
    if (config.cloud !== 'azure') throw new Error('unreachable');
    const wrong = new AzureKeyVaultTarget(config);
    await expectCode(prepare({ ...vault, target: wrong }, { kind: 'rsa', bits: 2048 }), 'CLOUD_AUTH_FAILED');
    const controller = new AbortController();
    controller.abort();
    await expectCode(
      vault.target.prepareImport(
        { keyName: uniqueName('k'), spec: { kind: 'rsa', bits: 2048 } },
        { abortSignal: controller.signal },
      ),
      'CANCELLED',
    );
  });

  it('an untrusted emulator certificate fails as such (TLS checks stay on)', async () => {
    const config = parseTargetConfig({
      cloud: 'azure',
      vaultUrl: vault.kv.url,
      credential: { kind: 'static-token', token: EMULATOR_TOKEN },
      disableChallengeResourceVerification: true,
      retry: { maxAttempts: 1 },
    });
    if (config.cloud !== 'azure') throw new Error('unreachable');
    const untrusting = new AzureKeyVaultTarget(config);
    const err = await expectCode(
      prepare({ ...vault, target: untrusting }, { kind: 'rsa', bits: 2048 }),
      'CLOUD_UNAVAILABLE',
    );
    expect(err.message).toContain('not trusted');
  });
});

describe('Azure faults: retried only where safe, the state read before repeating a write', () => {
  /** A pipeline policy that arms an emulator fault just before the next import (PUT /keys/<name>). */
  function importFault(f: AzureFixture, arm: () => void, after?: () => never, always = false) {
    let armed = true;
    return f.withExtras({
      additionalPolicies: [
        {
          position: 'perCall',
          policy: {
            name: 'arm-import-fault',
            async sendRequest(request, next) {
              const isImport = request.method === 'PUT' && /\/keys\/[^/?]+\?/.test(request.url);
              if (isImport && armed) {
                armed = always;
                if (!after) arm();
                const response = await next(request);
                if (after && response.status === 200) after();
                return response;
              }
              return next(request);
            },
          },
        },
      ],
    });
  }

  async function importWith(target: AzureKeyVaultTarget) {
    const spec: CloudKeySpec = { kind: 'rsa', bits: 2048 };
    const prep = await target.prepareImport({
      keyName: uniqueName('fault'),
      spec,
      hsmOaepHashes: ['sha1'],
      wrappingKeyBits: 2048,
    });
    const key = generateTarget(hsm, spec);
    return { prep, key, wrapped: hsmWrap(hsm, prep, key) };
  }

  it('a read answered 500 is retried by the SDK policy', async () => {
    const before = vault.kv.faults.injected;
    vault.kv.faults.inject('error', { count: 1 });
    const prep = await prepare(vault, { kind: 'rsa', bits: 2048 });
    expect(prep.kek.id).toContain('/keys/');
    expect(vault.kv.faults.injected).toBe(before + 1);
  });

  for (const kind of ['throttle', 'error', 'hang'] as const) {
    it(`import answered with ${kind}: the state is checked, the import repeated once, one version results`, async () => {
      const target = importFault(vault, () => vault.kv.faults.inject(kind));
      const { prep, key, wrapped } = await importWith(target);
      const before = vault.kv.faults.injected;
      const imported = await target.importWrappedKey(prep, wrapped);
      expect(vault.kv.faults.injected).toBe(before + 1);
      expect(imported.notes.join(' ')).toContain(kind === 'throttle' ? 'throttled' : 'nothing was done');
      expect(await versions(vault, prep.keyName)).toBe(1);
      await target.verifyImport(imported, { publicKey: key.publicKey });
    });
  }

  it('an import whose answer is lost is found by reading the state, not imported twice', async () => {
    const lost = (): never => {
      const err = new Error('The operation was aborted.');
      err.name = 'AbortError';
      throw err;
    };
    const target = importFault(vault, () => undefined, lost);
    const { prep, key, wrapped } = await importWith(target);
    const imported = await target.importWrappedKey(prep, wrapped);
    expect(imported.notes.join(' ')).toContain('the state shows it succeeded');
    expect(await versions(vault, prep.keyName)).toBe(1);
    await target.verifyImport(imported, { publicKey: key.publicKey });
  });

  it('a vault that keeps failing gives CLOUD_UNAVAILABLE and no key', async () => {
    const target = importFault(vault, () => vault.kv.faults.inject('error'), undefined, true);
    const { prep, wrapped } = await importWith(target);
    const err = await expectCode(target.importWrappedKey(prep, wrapped), 'CLOUD_UNAVAILABLE');
    expect(isCloudError(err) && err.retryable).toBe(true);
    expect(await exists(vault, prep.keyName)).toBe(false);
    vault.kv.faults.clear();
  });

  it('purges a deleted KEK when asked', async () => {
    const prep = await prepare(vault, { kind: 'rsa', bits: 2048 });
    const result = await vault.target.cleanup(prep, { deleteKek: true, purge: true });
    expect(result.purged).toEqual([prep.kek.id]);
    const kekName = `${prep.keyName}-kek`;
    let deletedFound = true;
    try {
      await rawClient(vault).getDeletedKey(kekName);
    } catch {
      deletedFound = false;
    }
    expect(deletedFound).toBe(false);
    // The name is free again: a new KEK can take it.
    await rawClient(vault).createRsaKey(kekName, { hsm: true, keySize: 2048, keyOps: ['import'] });
  });
});

function missing(): never {
  throw new Error('the HSM returned no public key');
}
