import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/ceremony/canonical.js';
import { validateCeremonyDefinition } from '../src/ceremony/definition.js';
import { CEREMONY_DIGEST_DOMAIN, ceremonyDigest } from '../src/ceremony/digest.js';
import type { CeremonyDefinition } from '../src/ceremony/types.js';
import { awsRaw, azureRaw } from './ceremony-fixtures.js';

/** A definition with fixed keys, so its digest can be pinned. */
const FIXED: CeremonyDefinition = {
  version: 1,
  ceremonyId: 'cer-fixed',
  requester: 'dave',
  key: { kind: 'rsa', bits: 3072 },
  target: {
    cloud: 'azure',
    vaultUrl: 'https://contoso.vault.azure.net',
    keyName: 'k1',
    kty: 'RSA-HSM',
    keyOps: ['sign', 'verify'],
    kek: { name: 'k1-kek', bits: 4096, deleteAfterImport: true },
  },
  hsm: { profile: 'softhsm', keyLabel: 'k1', createIfMissing: true },
  quorum: {
    required: 1,
    approvers: [{ id: 'alice', role: 'officer', publicKey: { alg: 'ed25519', raw: 'A'.repeat(43) } }],
    windowMs: 3_600_000,
    vetoOnReject: true,
  },
  deadlines: { overallMs: 7_200_000 },
};

// Pinned on purpose: a change here means every signed approval in flight stops verifying.
const PINNED = '05647347827d20286741f1a29f74a9325d0362bff00647242664424f769a8408';

describe('canonical JSON', () => {
  it('sorts keys, drops white space and undefined properties, keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 'é\n', y: 1.5, u: undefined } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"y":1.5,"z":"é\\n"}}',
    );
    expect(canonicalJson({ '\u00e9': 1, z: 2, Z: 3, '10': 4, '9': 5 })).toBe(
      '{"10":4,"9":5,"Z":3,"z":2,"é":1}',
    );
  });

  it('refuses values JSON cannot carry faithfully', () => {
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -0,
      10n,
      new Date(0),
      [undefined],
      () => 1,
      new Map(),
    ]) {
      expect(() => canonicalJson({ v: bad })).toThrow(/canonical|JSON form/);
    }
  });
});

describe('ceremony digest', () => {
  it('is pinned: SHA-256 of the domain-tagged canonical JSON (cross-checked with node:crypto)', () => {
    const expected = createHash('sha256')
      .update(canonicalJson({ domain: CEREMONY_DIGEST_DOMAIN, ceremony: FIXED }))
      .digest('hex');
    expect(ceremonyDigest(FIXED)).toBe(expected);
    expect(ceremonyDigest(FIXED)).toBe(PINNED);
  });

  it('does not depend on key order, YAML vs JSON or a JSON round trip', () => {
    const a = validateCeremonyDefinition(azureRaw());
    const reordered = Object.fromEntries(Object.entries(azureRaw()).reverse());
    const b = validateCeremonyDefinition(reordered);
    expect(ceremonyDigest(b)).toBe(ceremonyDigest(a));
    expect(ceremonyDigest(JSON.parse(JSON.stringify(a)) as CeremonyDefinition)).toBe(ceremonyDigest(a));
  });

  it('changes with every single parameter (each leaf of an Azure and an AWS definition)', () => {
    for (const def of [validateCeremonyDefinition(azureRaw()), validateCeremonyDefinition(awsRaw())]) {
      const base = ceremonyDigest(def);
      const leaves = leafPaths(def);
      expect(leaves.length).toBeGreaterThan(20);
      for (const path of leaves) {
        const changed = mutate(def, path);
        expect(ceremonyDigest(changed), `changing ${path.join('.')}`).not.toBe(base);
      }
      // Optional parameters: pinning a KEK, or adding a description, is a change too.
      const withKek = { ...def, kek: { id: 'https://v/keys/kek/1', sha256: 'ab'.repeat(32) } };
      expect(ceremonyDigest(withKek)).not.toBe(base);
      expect(
        ceremonyDigest({ ...withKek, kek: { id: 'https://v/keys/kek/1', sha256: 'cd'.repeat(32) } }),
      ).not.toBe(ceremonyDigest(withKek));
      // Reordering approvers or key ops changes the parameters as written: a new digest, approve again.
      const reversed = { ...def, quorum: { ...def.quorum, approvers: [...def.quorum.approvers].reverse() } };
      expect(ceremonyDigest(reversed)).not.toBe(base);
    }
  });
});

type Path = (string | number)[];

function leafPaths(value: unknown, path: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [path];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return entries.flatMap(([k, v]) => leafPaths(v, [...path, k]));
}

function mutate<T>(value: T, path: Path): T {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  const old = node[last];
  node[last] = typeof old === 'string' ? `${old}x` : typeof old === 'number' ? old + 1 : !old;
  return copy as T;
}
