/** Shared test fixtures for the ceremony-*.test.ts files: approver key pairs and a valid definition. */
import { type ApproverKeyPair, generateApproverKeyPair } from '../src/ceremony/signing.js';

export const KEYS: Readonly<Record<'alice' | 'bob' | 'carol' | 'dave', ApproverKeyPair>> = {
  alice: generateApproverKeyPair('ed25519'),
  bob: generateApproverKeyPair('p256'),
  carol: generateApproverKeyPair('ed25519'),
  dave: generateApproverKeyPair('p256'),
};

export type Raw = Record<string, unknown>;

/** A valid Azure definition as a requester would write it (decoded YAML). */
export function azureRaw(): Raw {
  return {
    version: 1,
    id: 'cer-2025-0001',
    requester: 'dave',
    description: 'payments signing key, Q1',
    key: { spec: 'CKK_EC, 256, P-256' },
    hsm: { profile: 'luna-prod', keyLabel: 'payments-sign-2025', createIfMissing: true },
    target: {
      azure: {
        vaultUrl: 'https://contoso.vault.azure.net',
        keyName: 'payments-sign-2025',
        keyOps: ['sign', 'verify'],
      },
    },
    quorum: {
      required: 2,
      window: '72h',
      vetoOnReject: true,
      approvers: [
        { id: 'alice', name: 'Alice Martin', role: 'security-officer', publicKey: KEYS.alice.publicKeyPem },
        { id: 'bob', role: 'key-custodian', publicKey: KEYS.bob.publicKeyPem },
        { id: 'carol', role: 'key-custodian', publicKey: KEYS.carol.publicKeyPem },
      ],
    },
    deadlines: { overall: '7d' },
  };
}

/** A valid AWS definition. */
export function awsRaw(): Raw {
  return {
    ...azureRaw(),
    key: { spec: 'CKK_RSA, 3072, none' },
    target: {
      aws: {
        region: 'eu-west-1',
        alias: 'alias/payments-rsa',
        keyUsage: 'SIGN_VERIFY',
        wrappingAlgorithms: ['RSA_AES_KEY_WRAP_SHA_256'],
        expiration: { model: 'KEY_MATERIAL_EXPIRES', validTo: '2026-06-30T00:00:00Z' },
      },
    },
  };
}

/** Deep copy with one change at a dotted path (`quorum.approvers.0.id`); `undefined` deletes. */
export function withChange(raw: Raw, path: string, value: unknown): Raw {
  const copy = structuredClone(raw) as Raw;
  const parts = path.split('.');
  let node: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  const last = parts[parts.length - 1] as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}
