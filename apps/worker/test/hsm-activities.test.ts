/** The HSM activities against a real SoftHSM token (no Temporal needed: activities are plain functions). */
import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spkiFingerprint } from '@byok/core';
import {
  type CeremonyKeySpec,
  ceremonyDigest,
  createApproval,
  validateCeremonyDefinition,
} from '@byok/core/ceremony';
import {
  createSoftHsm,
  generateKekPair,
  type KekPair,
  proveWrappedKey,
  SOFTHSM_LIBRARY,
  type SoftHsm,
} from '@byok/testkit';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHsmProfiles, createHsmActivities, toKeySpec } from '../src/activities/hsm.js';
import type { HsmActivities } from '../src/activities/types.js';
import { validateWorkerConfig } from '../src/config.js';
import { APPROVERS, rawDefinition } from './e2e/ceremony.js';

const KEY: CeremonyKeySpec = { kind: 'ec', bits: 256, curve: 'P-256' };
const PIN_VAR = 'BYOK_TEST_SOFTHSM_PIN';

let dir: string;
let softhsm: SoftHsm;
let kek: KekPair;
let hsm: HsmActivities;

function step(keyLabel: string, createIfMissing = true, profile = 'softhsm') {
  return { ceremonyId: 'cer-hsm-test', hsm: { profile, keyLabel, createIfMissing }, key: KEY };
}

/** What the workflow hands the wrap step: this ceremony's definition and its signed decisions. */
function approvalsFor(keyLabel: string, signers: (keyof typeof APPROVERS)[] = ['alice', 'bob']) {
  const raw = rawDefinition('cer-hsm-test', {
    cloud: 'azure',
    vaultUrl: 'https://test.vault.azure.net',
    spec: 'CKK_EC, 256, P-256',
  });
  const definition = validateCeremonyDefinition({
    ...raw,
    hsm: { profile: 'softhsm', keyLabel, createIfMissing: true },
  });
  const digest = ceremonyDigest(definition);
  const openedAt = Date.now();
  const decisions = signers.map((approverId, i) => ({
    ...createApproval({
      approverId,
      decision: 'approve',
      digest,
      privateKey: APPROVERS[approverId].privateKeyPem,
    }),
    receivedAt: openedAt + i,
  }));
  return { definition, openedAt, decisions };
}

async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byok-worker-hsm-'));
  softhsm = await createSoftHsm({ dir });
  // SoftHSM reads its config when C_Initialize runs in this process.
  process.env.SOFTHSM2_CONF = softhsm.env.SOFTHSM2_CONF;
  const token = await softhsm.initToken('ceremony');
  process.env[PIN_VAR] = token.pin;
  process.env.BYOK_TEST_WRONG_PIN = 'wrong-pin-0000';
  kek = generateKekPair(2048);
  hsm = createHsmActivities(
    validateWorkerConfig({
      hsmProfiles: {
        softhsm: { library: SOFTHSM_LIBRARY, tokenLabel: 'ceremony', pin: { env: PIN_VAR } },
        wrongpin: { library: SOFTHSM_LIBRARY, tokenLabel: 'ceremony', pin: { env: 'BYOK_TEST_WRONG_PIN' } },
      },
    }),
  );
});

afterAll(async () => {
  closeHsmProfiles();
  await softhsm?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('HSM activities on SoftHSM', () => {
  it('preflight, generate-and-wrap, idempotent retry, compensation', async () => {
    const before = await hsm.preflightHsm(step('cer-key-1'));
    expect(before).toMatchObject({ tokenLabel: 'ceremony', keyExisted: false });

    const wrapInput = {
      ...step('cer-key-1'),
      approvals: approvalsFor('cer-key-1'),
      keyExisted: false,
      wrap: {
        kekPem: kek.publicPem,
        kekFingerprint: spkiFingerprint(createPublicKey(kek.publicPem)),
        format: 'rsa-aes-key-wrap' as const,
        oaepHash: 'sha1' as const,
      },
    };
    const wrapped = await hsm.wrapTargetKey(wrapInput);
    expect(wrapped).toMatchObject({ keyLabel: 'cer-key-1', generated: true });
    expect(wrapped.ciphertextSha256).toMatch(/^[0-9a-f]{64}$/);
    // The blob really is the target, wrapped to the KEK (unwrapped with the KEK's private key).
    proveWrappedKey(Buffer.from(wrapped.ciphertext, 'base64url'), kek.privateKey, {
      oaepHash: 'sha1',
      spec: toKeySpec(KEY),
    });

    // A retry finds the key instead of generating a second one (still this ceremony's: generated).
    const retried = await hsm.wrapTargetKey(wrapInput);
    expect(retried.generated).toBe(true);
    expect(await hsm.wrapTargetKey({ ...wrapInput, keyExisted: true })).toMatchObject({ generated: false });
    expect(retried.publicKeySpkiSha256).toBe(wrapped.publicKeySpkiSha256);
    expect(await hsm.preflightHsm(step('cer-key-1'))).toMatchObject({
      keyExisted: true,
      existingKeySpkiSha256: wrapped.publicKeySpkiSha256,
    });

    await hsm.destroyGeneratedKey(step('cer-key-1'));
    await hsm.destroyGeneratedKey(step('cer-key-1')); // idempotent
    const gone = await failure(hsm.preflightHsm(step('cer-key-1', false)));
    expect(gone.type).toBe('CKR_OBJECT_NOT_FOUND');
    expect(gone.nonRetryable).toBe(true);
  });

  it("re-verifies the approvals before touching the HSM: forged, too few or another ceremony's are refused", async () => {
    const base = {
      ...step('cer-key-2'),
      keyExisted: false,
      wrap: {
        kekPem: kek.publicPem,
        kekFingerprint: spkiFingerprint(createPublicKey(kek.publicPem)),
        format: 'rsa-aes-key-wrap' as const,
        oaepHash: 'sha1' as const,
      },
    };
    const good = approvalsFor('cer-key-2');
    const [first, second] = good.decisions;
    if (!first || !second) throw new Error('two decisions');
    // bob's signature replaced by dave's over the same digest: the record claims bob.
    const forged = {
      ...good,
      decisions: [
        first,
        { ...second, signature: approvalsFor('cer-key-2', ['dave']).decisions[0]?.signature ?? '' },
      ],
    };
    const cases: [string, typeof good, string][] = [
      ['forged', forged, 'APPROVAL_SIGNATURE_INVALID'],
      ['too few', approvalsFor('cer-key-2', ['alice']), 'QUORUM_NOT_REACHED'],
      [
        'duplicate',
        { ...good, decisions: [first, { ...first, receivedAt: first.receivedAt + 1 }] },
        'APPROVER_DUPLICATE',
      ],
      ['another key label', approvalsFor('some-other-key'), 'APPROVALS_MISMATCH'],
    ];
    for (const [, approvals, type] of cases) {
      const refused = await failure(hsm.wrapTargetKey({ ...base, approvals }));
      expect(refused).toMatchObject({ type, nonRetryable: true });
    }
    // Nothing was generated by the refused attempts.
    expect(await hsm.preflightHsm(step('cer-key-2'))).toMatchObject({ keyExisted: false });
    expect(await hsm.wrapTargetKey({ ...base, approvals: good })).toMatchObject({ generated: true });
    await hsm.destroyGeneratedKey(step('cer-key-2'));
  });

  it('never retries a wrong PIN (a retry could lock the token) and names unknown profiles', async () => {
    // Twice: first while the token is logged in for the 'softhsm' profile (its login must not cover a wrong
    // PIN), then with nothing loaded, where C_Login itself refuses it.
    for (const loaded of [true, false]) {
      if (!loaded) closeHsmProfiles();
      const wrong = await failure(hsm.preflightHsm(step('x', true, 'wrongpin')));
      expect(wrong.type).toBe('CKR_PIN_INCORRECT');
      expect(wrong.nonRetryable).toBe(true);
      expect(wrong.message).not.toContain('wrong-pin-0000');
    }
    const unknown = await failure(hsm.preflightHsm(step('x', true, 'luna-prod')));
    expect(unknown).toMatchObject({ type: 'HSM_PROFILE_UNKNOWN', nonRetryable: true });
    expect(unknown.message).toMatch(/profiles: softhsm, wrongpin/);
  });
});
