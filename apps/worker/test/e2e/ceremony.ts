/** Definitions, approvals and counting for the end-to-end tests. */
import {
  type ApproverKeyPair,
  type CeremonyDefinition,
  ceremonyDigest,
  createApproval,
  generateApproverKeyPair,
  validateCeremonyDefinition,
} from '@byok/core/ceremony';
import type { Client, WorkflowHandle } from '@temporalio/client';
import {
  approveUpdate,
  CEREMONY_WORKFLOW_TYPE,
  type CeremonyInput,
  type CeremonyOutcome,
  progressQuery,
} from '../../src/messages.js';

export const APPROVERS: Readonly<Record<'alice' | 'bob' | 'dave', ApproverKeyPair>> = {
  alice: generateApproverKeyPair('ed25519'),
  bob: generateApproverKeyPair('p256'),
  dave: generateApproverKeyPair('ed25519'),
};

export type TargetChoice =
  | { readonly cloud: 'azure'; readonly vaultUrl: string; readonly spec: string; readonly kekBits?: number }
  | { readonly cloud: 'aws'; readonly region: string; readonly spec: string };

/** A 2-of-3 ceremony (alice, bob, dave; carol requests) with a ceremony-unique key label and cloud name. */
export function ceremonyDefinition(id: string, target: TargetChoice): CeremonyDefinition {
  return validateCeremonyDefinition(rawDefinition(id, target));
}

/** The same, as the file a requester writes (JSON is YAML too). */
export function rawDefinition(id: string, target: TargetChoice): Record<string, unknown> {
  const name = id.replace(/[^0-9A-Za-z-]/g, '-');
  return {
    version: 1,
    id,
    requester: 'carol',
    key: { spec: target.spec },
    hsm: { profile: 'softhsm', keyLabel: `${id}-key`, createIfMissing: true },
    target:
      target.cloud === 'azure'
        ? {
            azure: {
              vaultUrl: target.vaultUrl,
              keyName: name,
              keyOps: target.spec.startsWith('CKK_RSA') ? ['sign', 'verify'] : ['sign', 'verify'],
              kek: { bits: target.kekBits ?? 2048 },
            },
          }
        : {
            aws: {
              region: target.region,
              alias: `alias/${name}`,
              wrappingAlgorithms: ['RSAES_OAEP_SHA_1'],
              wrappingKeySpec: 'RSA_2048',
              expiration: { model: 'DOES_NOT_EXPIRE' },
            },
          },
    quorum: {
      required: 2,
      window: '1h',
      vetoOnReject: true,
      approvers: Object.entries(APPROVERS).map(([approverId, k]) => ({
        id: approverId,
        role: 'key-custodian',
        publicKey: k.publicKeyPem,
      })),
    },
    deadlines: { overall: '2h' },
  };
}

export async function startCeremony(
  client: Client,
  taskQueue: string,
  def: CeremonyDefinition,
): Promise<WorkflowHandle> {
  const input: CeremonyInput = { definition: def, expectedDigest: ceremonyDigest(def), admins: ['eve'] };
  return client.workflow.start(CEREMONY_WORKFLOW_TYPE, {
    workflowId: def.ceremonyId,
    taskQueue,
    args: [input],
  });
}

export async function waitForStatus(
  handle: WorkflowHandle,
  status: string,
  timeoutMs = 60_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const p = await handle.query(progressQuery).catch(() => undefined);
    if (p?.status === status) return;
    if (Date.now() > until)
      throw new Error(`ceremony ${handle.workflowId} never reached ${status} (is ${p?.status})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** alice and bob approve (2 of 3), signing the digest the running ceremony reports. */
export async function approveTwice(handle: WorkflowHandle): Promise<void> {
  await waitForStatus(handle, 'awaiting-approvals');
  const { digest } = await handle.query(progressQuery);
  for (const who of ['alice', 'bob'] as const) {
    await handle.executeUpdate(approveUpdate, {
      args: [
        createApproval({
          approverId: who,
          decision: 'approve',
          digest,
          privateKey: APPROVERS[who].privateKeyPem,
        }),
      ],
    });
  }
}

export async function outcome(handle: WorkflowHandle): Promise<CeremonyOutcome> {
  return (await handle.result()) as CeremonyOutcome;
}
