/** Worker test fixtures: approver keys, definitions, fake HSM/cloud activities that record their calls. */
import {
  type Approval,
  type ApproverKeyPair,
  type CeremonyDefinition,
  ceremonyDigest,
  createApproval,
  type Decision,
  generateApproverKeyPair,
  validateCeremonyDefinition,
} from '@byok/core/ceremony';
import { ApplicationFailure } from '@temporalio/common';
import type { CeremonyActivities, ImportPreparation } from '../src/activities/types.js';

export const KEYS: Readonly<Record<'alice' | 'bob' | 'carol' | 'dave' | 'mallory', ApproverKeyPair>> = {
  alice: generateApproverKeyPair('ed25519'),
  bob: generateApproverKeyPair('p256'),
  carol: generateApproverKeyPair('ed25519'),
  dave: generateApproverKeyPair('p256'),
  mallory: generateApproverKeyPair('ed25519'),
};

let counter = 0;
/** A unique ceremony id per call: every test gets its own workflow. */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** A validated definition: carol requests, alice/bob/carol approve, 2 needed. */
export function definition(opts: {
  id: string;
  vetoOnReject?: boolean;
  windowMs?: number;
  description?: string;
}): CeremonyDefinition {
  const def = validateCeremonyDefinition({
    version: 1,
    id: opts.id,
    requester: 'carol',
    ...(opts.description ? { description: opts.description } : {}),
    key: { spec: 'CKK_EC, 256, P-256' },
    hsm: { profile: 'softhsm', keyLabel: `${opts.id}-key`, createIfMissing: true },
    target: {
      azure: { vaultUrl: 'https://contoso.vault.azure.net', keyName: opts.id, keyOps: ['sign', 'verify'] },
    },
    quorum: {
      required: 2,
      window: '1h',
      vetoOnReject: opts.vetoOnReject ?? true,
      approvers: [
        { id: 'alice', role: 'security-officer', publicKey: KEYS.alice.publicKeyPem },
        { id: 'bob', role: 'key-custodian', publicKey: KEYS.bob.publicKeyPem },
        { id: 'carol', role: 'key-custodian', publicKey: KEYS.carol.publicKeyPem },
      ],
    },
    deadlines: { overall: '2h' },
  });
  // Tests may shorten the window below what a definition file allows (1 minute), to watch it expire.
  return opts.windowMs === undefined ? def : { ...def, quorum: { ...def.quorum, windowMs: opts.windowMs } };
}

export function approval(
  who: keyof typeof KEYS,
  def: CeremonyDefinition,
  decision: Decision = 'approve',
  opts: { signer?: keyof typeof KEYS; withDigest?: boolean } = {},
): Approval {
  const digest = ceremonyDigest(def);
  const signed = createApproval({
    approverId: who,
    decision,
    digest,
    privateKey: KEYS[opts.signer ?? who].privateKeyPem,
  });
  if (opts.withDigest === false) {
    const { digest: _omitted, ...rest } = signed;
    return rest;
  }
  return signed;
}

/** A gate the evidence activity waits on, so a test can act while a finished ceremony is still running. */
export class Gate {
  private open!: () => void;
  readonly opened = new Promise<void>((r) => {
    this.open = r;
  });
  release(): void {
    this.open();
  }
}

const NOTHING_DONE = { deleted: [], scheduledForDeletion: [], kept: [], notes: [] };

const FAKE_PREPARATION: ImportPreparation = {
  cloud: 'azure-keyvault',
  location: 'https://fake',
  keyName: 'fake',
  spec: { kind: 'ec', curve: 'P-256' },
  keyOps: ['sign', 'verify'],
  kek: {
    id: 'https://fake/keys/kek/1',
    publicKeyPem: '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n',
    fingerprint: '22'.repeat(32),
    bits: 3072,
  },
  wrap: { format: 'rsa-aes-key-wrap', oaepHash: 'sha1', encoding: 'pkcs8' },
  created: [],
  notes: [],
};

export type Failures = Map<string, Partial<Record<keyof CeremonyActivities, string>>>;

/**
 * Fake HSM and cloud activities (no SoftHSM, no clouds): each call is recorded as `<name> <ceremonyId>`.
 * `failures.get(ceremonyId)[step]` makes that step of that ceremony throw a non-retryable failure of that type.
 */
export function fakeActivities(calls: string[], failures: Failures = new Map()): Partial<CeremonyActivities> {
  const step = <T>(name: keyof CeremonyActivities, ceremonyId: string, result: T): T => {
    calls.push(`${name} ${ceremonyId}`);
    const failure = failures.get(ceremonyId)?.[name];
    if (failure) throw ApplicationFailure.nonRetryable(`${name} failed (test)`, failure);
    return result;
  };
  return {
    preflightHsm: async (i) =>
      step('preflightHsm', i.ceremonyId, {
        tokenLabel: 'test-token',
        tokenSerial: '0001',
        firmware: '2.6',
        keyExisted: false,
        checks: [],
      }),
    wrapTargetKey: async (i) =>
      step('wrapTargetKey', i.ceremonyId, {
        ciphertext: 'AAAA',
        ciphertextSha256: '00'.repeat(32),
        keyLabel: i.hsm.keyLabel,
        generated: true,
        publicKeySpkiSha256: '11'.repeat(32),
        wrapDescription: 'test wrap',
      }),
    destroyGeneratedKey: async (i) => step('destroyGeneratedKey', i.ceremonyId, undefined),
    preflightCloud: async (i) =>
      step('preflightCloud', i.ceremonyId, {
        cloud: i.target.cloud,
        location: 'https://fake',
        detail: 'fake cloud',
      }),
    prepareImport: async (i) => step('prepareImport', i.ceremonyId, FAKE_PREPARATION),
    refreshPreparation: async (i) => step('refreshPreparation', i.ceremonyId, FAKE_PREPARATION),
    importWrappedKey: async (i) =>
      step('importWrappedKey', i.ceremonyId, {
        imported: {
          cloud: 'azure-keyvault' as const,
          location: 'https://fake',
          keyName: i.ceremonyId,
          keyId: `https://fake/keys/${i.ceremonyId}/v1`,
          spec: { kind: 'ec' as const, curve: 'P-256' as const },
          keyOps: ['sign' as const, 'verify' as const],
          notes: [],
        },
        alreadyImported: false,
      }),
    verifyImport: async (i) =>
      step('verifyImport', i.ceremonyId, {
        keyId: i.imported.keyId,
        checks: [{ id: 'public-key-equal', detail: 'equal' }],
        notes: [],
      }),
    cleanupImport: async (i) => step('cleanupImport', i.ceremonyId, NOTHING_DONE),
    discardImport: async (i) => step('discardImport', i.ceremonyId, NOTHING_DONE),
    revokeImport: async (i) => step('revokeImport', i.ceremonyId, NOTHING_DONE),
  };
}
