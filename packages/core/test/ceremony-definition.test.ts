import { describe, expect, it } from 'vitest';
import {
  parseCeremonyDefinition,
  parseDuration,
  validateCeremonyDefinition,
} from '../src/ceremony/definition.js';
import { ByokError } from '../src/errors.js';
import { awsRaw, azureRaw, KEYS, type Raw, withChange } from './ceremony-fixtures.js';

const NOW = Date.parse('2025-11-01T00:00:00Z');

function problem(raw: unknown): string {
  try {
    validateCeremonyDefinition(raw, { now: NOW });
  } catch (e) {
    expect(e).toBeInstanceOf(ByokError);
    expect((e as ByokError).code).toBe('CEREMONY_INVALID');
    const message = (e as ByokError).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('definition was accepted');
}

describe('ceremony definition: valid files', () => {
  it('parses an Azure definition from YAML into typed JSON-only values', () => {
    const yaml = `
# payments signing key
version: 1
id: cer-2025-0001
requester: dave
key: { spec: 'CKK_EC, 256, P-256' }
hsm: { profile: luna-prod, keyLabel: payments-sign-2025, createIfMissing: true }
target:
  azure:
    vaultUrl: https://contoso.vault.azure.net/
    keyName: payments-sign-2025
    keyOps: [sign, verify]
quorum:
  required: 2
  window: 72h
  vetoOnReject: no_is_not_a_boolean_in_yaml_1_2
  approvers:
    - id: alice
      role: security-officer
      publicKey: |
${KEYS.alice.publicKeyPem
  .trim()
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
    - { id: bob, role: key-custodian, publicKey: ${JSON.stringify(KEYS.bob.publicKeyPem)} }
deadlines: { overall: 7d }
`;
    expect(() => parseCeremonyDefinition(yaml)).toThrow(/quorum\.vetoOnReject: must be true or false/);
    const def = parseCeremonyDefinition(yaml.replace('no_is_not_a_boolean_in_yaml_1_2', 'true'));
    expect(def.ceremonyId).toBe('cer-2025-0001');
    expect(def.key).toEqual({ kind: 'ec', bits: 256, curve: 'P-256' });
    expect(def.target).toEqual({
      cloud: 'azure',
      vaultUrl: 'https://contoso.vault.azure.net',
      keyName: 'payments-sign-2025',
      kty: 'EC-HSM',
      crv: 'P-256',
      keyOps: ['sign', 'verify'],
      kek: { name: 'payments-sign-2025-kek', bits: 4096, deleteAfterImport: true },
    });
    expect(def.quorum.windowMs).toBe(72 * 3600_000);
    expect(def.deadlines.overallMs).toBe(7 * 24 * 3600_000);
    expect(def.quorum.approvers.map((a) => a.publicKey.alg)).toEqual(['ed25519', 'p256']);
    // Plain JSON all the way down: it survives a JSON round trip unchanged (a workflow input).
    expect(JSON.parse(JSON.stringify(def))).toEqual(def);
  });

  it('parses an AWS definition and derives keySpec, defaults and normalises validTo', () => {
    const def = validateCeremonyDefinition(awsRaw(), { now: NOW });
    expect(def.target).toEqual({
      cloud: 'aws',
      region: 'eu-west-1',
      alias: 'alias/payments-rsa',
      keySpec: 'RSA_3072',
      keyUsage: 'SIGN_VERIFY',
      wrappingAlgorithms: ['RSA_AES_KEY_WRAP_SHA_256'],
      wrappingKeySpec: 'RSA_4096',
      expiration: { model: 'KEY_MATERIAL_EXPIRES', validTo: '2026-06-30T00:00:00Z' },
    });
    const aes = validateCeremonyDefinition(
      withChange(withChange(awsRaw(), 'key.spec', 'CKK_AES, 256, none'), 'target.aws.keyUsage', undefined),
    );
    expect(aes.target).toMatchObject({ keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' });
  });

  it('accepts JWK public keys and the same P-256 key compressed or not as one key', () => {
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: rawEd25519(KEYS.alice.publicKeyPem) };
    const def = validateCeremonyDefinition(withChange(azureRaw(), 'quorum.approvers.0.publicKey', jwk));
    const fromPem = validateCeremonyDefinition(azureRaw());
    expect(def.quorum.approvers[0]?.publicKey).toEqual(fromPem.quorum.approvers[0]?.publicKey);
  });

  it('reads durations', () => {
    expect(parseDuration('1d12h')).toBe(36 * 3600_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('')).toBeUndefined();
    expect(parseDuration('3 days')).toBeUndefined();
  });
});

function rawEd25519(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  return der.subarray(12).toString('base64url');
}

describe('ceremony definition: every problem is one line naming the field', () => {
  const cases: [string, (r: Raw) => Raw, RegExp][] = [
    [
      'YAML unknown top-level field',
      (r) => ({ ...r, extra: 1 }),
      /^ceremony definition: extra: unknown field/,
    ],
    ['version', (r) => withChange(r, 'version', 2), /version: must be 1/],
    ['id pattern', (r) => withChange(r, 'id', 'a b'), /id: 'a b' is not valid/],
    ['requester missing', (r) => withChange(r, 'requester', undefined), /requester: missing/],
    [
      'key spec',
      (r) => withChange(r, 'key.spec', 'CKK_EC, 384, P-256'),
      /key\.spec: curve P-256 is 256 bits, not 384/,
    ],
    ['key spec DES3', (r) => withChange(r, 'key.spec', 'CKK_DES3, 192, none'), /key\.spec: .*CKK_DES3/],
    ['hsm profile', (r) => withChange(r, 'hsm.profile', '../etc'), /hsm\.profile: '\.\.\/etc' is not valid/],
    ['hsm keyLabel', (r) => withChange(r, 'hsm.keyLabel', ''), /hsm\.keyLabel: must not be empty/],
    [
      'hsm createIfMissing',
      (r) => withChange(r, 'hsm.createIfMissing', 'yes'),
      /hsm\.createIfMissing: must be true or false/,
    ],
    [
      'PIN in hsm',
      (r) => withChange(r, 'hsm.pin', '1234'),
      /hsm\.pin: secrets never go in a ceremony definition/,
    ],
    [
      'password anywhere',
      (r) => withChange(r, 'target.azure.password', 'x'),
      /target\.azure\.password: secrets never/,
    ],
    [
      'private key',
      (r) => withChange(r, 'quorum.approvers.0.publicKey', KEYS.alice.privateKeyPem),
      /approvers\[0\]\.publicKey: holds a PRIVATE key/,
    ],
    [
      'two clouds',
      (r) => withChange(r, 'target.aws', awsRaw().target),
      /target: give exactly one of azure or aws/,
    ],
    ['no cloud', (r) => withChange(r, 'target', {}), /target: give exactly one/],
    [
      'vault http',
      (r) => withChange(r, 'target.azure.vaultUrl', 'http://contoso.vault.azure.net'),
      /target\.azure\.vaultUrl: must be https/,
    ],
    [
      'vault path',
      (r) => withChange(r, 'target.azure.vaultUrl', 'https://contoso.vault.azure.net/keys'),
      /vaultUrl: must be the vault origin only/,
    ],
    [
      'azure key name',
      (r) => withChange(r, 'target.azure.keyName', 'bad_name'),
      /target\.azure\.keyName: 'bad_name' is not valid/,
    ],
    [
      'azure kty contradicts',
      (r) => withChange(r, 'target.azure.kty', 'RSA-HSM'),
      /target\.azure\.kty: 'RSA-HSM' contradicts key\.spec, which makes it EC-HSM/,
    ],
    [
      'azure crv contradicts',
      (r) => withChange(r, 'target.azure.crv', 'P-384'),
      /target\.azure\.crv: 'P-384' contradicts/,
    ],
    [
      'azure key op for EC',
      (r) => withChange(r, 'target.azure.keyOps', ['sign', 'decrypt']),
      /target\.azure\.keyOps\[1\]: 'decrypt' is not allowed for a EC-HSM key/,
    ],
    [
      'azure key op twice',
      (r) => withChange(r, 'target.azure.keyOps', ['sign', 'sign']),
      /keyOps\[1\]: 'sign' is listed twice/,
    ],
    [
      'azure no key ops',
      (r) => withChange(r, 'target.azure.keyOps', []),
      /target\.azure\.keyOps: name at least one/,
    ],
    [
      'azure AES in key vault',
      (r) => withChange(withChange(r, 'key.spec', 'CKK_AES, 256, none'), 'target.azure.keyOps', ['encrypt']),
      /key\.spec: AES keys import only into Azure Managed HSM/,
    ],
    [
      'azure RSA size',
      (r) => withChange(withChange(r, 'key.spec', 'CKK_RSA, 1024, none'), 'target.azure.keyOps', ['sign']),
      /key\.spec: Azure Key Vault imports RSA 2048, 3072 or 4096, not 1024/,
    ],
    [
      'azure kek bits',
      (r) => withChange(r, 'target.azure.kek', { bits: 1024 }),
      /target\.azure\.kek\.bits: 1024 is not allowed; allowed: 2048, 3072, 4096/,
    ],
    [
      'azure kek same name',
      (r) => withChange(r, 'target.azure.kek', { name: 'payments-sign-2025' }),
      /kek\.name: must differ from keyName/,
    ],
    [
      'pinned kek hash',
      (r) => withChange(r, 'kek', { id: 'https://v/keys/kek/1', sha256: 'abc' }),
      /kek\.sha256: 'abc' is not valid/,
    ],
    ['required zero', (r) => withChange(r, 'quorum.required', 0), /quorum\.required: 0 is outside 1\.\.50/],
    [
      'required not integer',
      (r) => withChange(r, 'quorum.required', 1.5),
      /quorum\.required: must be a whole number/,
    ],
    [
      'required > eligible',
      (r) => withChange(r, 'quorum.required', 4),
      /quorum\.required: 4 exceeds the 3 eligible approvers/,
    ],
    [
      'requester does not count',
      (r) => withChange(withChange(r, 'requester', 'alice'), 'quorum.required', 3),
      /quorum\.required: 3 exceeds the 2 eligible approvers \(the requester alice never counts\)/,
    ],
    [
      'no approvers',
      (r) => withChange(r, 'quorum.approvers', []),
      /quorum\.approvers: name at least one approver/,
    ],
    [
      'duplicate approver',
      (r) => withChange(r, 'quorum.approvers.2.id', 'Alice'),
      /quorum\.approvers\[2\]\.id: 'Alice' is already approvers\[0\]/,
    ],
    [
      'shared key',
      (r) => withChange(r, 'quorum.approvers.2.publicKey', KEYS.alice.publicKeyPem),
      /approvers\[2\]\.publicKey: same key as approvers\[0\]/,
    ],
    [
      'approver role',
      (r) => withChange(r, 'quorum.approvers.1.role', undefined),
      /quorum\.approvers\[1\]\.role: missing/,
    ],
    [
      'approver key garbage',
      (r) => withChange(r, 'quorum.approvers.1.publicKey', 'hello'),
      /approvers\[1\]\.publicKey: expected a PEM block/,
    ],
    [
      'approver RSA key',
      (r) => withChange(r, 'quorum.approvers.1.publicKey', rsaPem()),
      /approvers\[1\]\.publicKey: unsupported public key/,
    ],
    [
      'approver JWK private',
      (r) =>
        withChange(r, 'quorum.approvers.1.publicKey', { kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' }),
      /approvers\[1\]\.publicKey: this JWK holds a private key/,
    ],
    [
      'approver JWK curve',
      (r) => withChange(r, 'quorum.approvers.1.publicKey', { kty: 'EC', crv: 'P-384', x: 'a', y: 'b' }),
      /unsupported JWK kty "EC" crv "P-384"/,
    ],
    ['window', (r) => withChange(r, 'quorum.window', '3 days'), /quorum\.window: '3 days' is not a duration/],
    [
      'window too short',
      (r) => withChange(r, 'quorum.window', '10s'),
      /quorum\.window: 10s is outside 1m\.\.90d/,
    ],
    [
      'veto missing',
      (r) => withChange(r, 'quorum.vetoOnReject', undefined),
      /quorum\.vetoOnReject: missing \(true or false\)/,
    ],
    [
      'overall <= window',
      (r) => withChange(r, 'deadlines.overall', '72h'),
      /deadlines\.overall: \('72h'\) must be longer than quorum\.window/,
    ],
    ['deadlines missing', (r) => withChange(r, 'deadlines', undefined), /deadlines: missing/],
  ];
  it.each(cases)('%s', (_name, change, expected) => {
    expect(problem(change(azureRaw()))).toMatch(expected);
  });

  const awsCases: [string, (r: Raw) => Raw, RegExp][] = [
    [
      'region',
      (r) => withChange(r, 'target.aws.region', 'Europe'),
      /target\.aws\.region: 'Europe' is not valid/,
    ],
    [
      'alias and keyId',
      (r) => withChange(r, 'target.aws.keyId', '1234abcd-12ab-34cd-56ef-1234567890ab'),
      /target\.aws: give exactly one of alias .* or keyId/,
    ],
    [
      'reserved alias',
      (r) => withChange(r, 'target.aws.alias', 'alias/aws/s3'),
      /target\.aws\.alias: alias\/aws\/ is reserved/,
    ],
    [
      'ARN region',
      (r) =>
        withChange(
          withChange(r, 'target.aws.alias', undefined),
          'target.aws.keyId',
          'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        ),
      /target\.aws\.keyId: the ARN is in us-east-1 but region is eu-west-1/,
    ],
    [
      'keySpec contradicts',
      (r) => withChange(r, 'target.aws.keySpec', 'RSA_2048'),
      /target\.aws\.keySpec: 'RSA_2048' contradicts key\.spec, which makes it RSA_3072/,
    ],
    [
      'RSA usage required',
      (r) => withChange(r, 'target.aws.keyUsage', undefined),
      /target\.aws\.keyUsage: missing; allowed: ENCRYPT_DECRYPT, SIGN_VERIFY/,
    ],
    [
      'usage for key',
      (r) => withChange(r, 'target.aws.keyUsage', 'KEY_AGREEMENT'),
      /keyUsage: 'KEY_AGREEMENT' is not allowed for RSA_3072/,
    ],
    [
      'AES-128',
      (r) => withChange(withChange(r, 'key.spec', 'CKK_AES, 128, none'), 'target.aws.keyUsage', undefined),
      /key\.spec: AWS KMS imports AES-256 only/,
    ],
    [
      'OAEP for RSA',
      (r) => withChange(r, 'target.aws.wrappingAlgorithms', ['RSAES_OAEP_SHA_256']),
      /wrappingAlgorithms\[0\]: 'RSAES_OAEP_SHA_256' is not allowed for RSA_3072 \(asymmetric material needs AES key wrap\)/,
    ],
    [
      'PKCS1',
      (r) => withChange(r, 'target.aws.wrappingAlgorithms', ['RSAES_PKCS1_V1_5']),
      /wrappingAlgorithms\[0\]: RSAES_PKCS1_V1_5 is no longer accepted/,
    ],
    [
      'wrapping key spec',
      (r) => withChange(r, 'target.aws.wrappingKeySpec', 'RSA_1024'),
      /wrappingKeySpec: 'RSA_1024' is not allowed/,
    ],
    [
      'expiration missing',
      (r) => withChange(r, 'target.aws.expiration', undefined),
      /target\.aws\.expiration: missing/,
    ],
    [
      'validTo fraction',
      (r) => withChange(r, 'target.aws.expiration.validTo', '2026-06-30T00:00:00.5Z'),
      /validTo: '2026-06-30T00:00:00\.5Z' is not an ISO-8601 instant in whole seconds/,
    ],
    [
      'validTo too far',
      (r) => withChange(r, 'target.aws.expiration.validTo', '2027-06-30T00:00:00Z'),
      /validTo: .* at most 365 days away/,
    ],
    [
      'validTo with never',
      (r) =>
        withChange(r, 'target.aws.expiration', { model: 'DOES_NOT_EXPIRE', validTo: '2026-01-01T00:00:00Z' }),
      /expiration\.validTo: only with model KEY_MATERIAL_EXPIRES/,
    ],
  ];
  it.each(awsCases)('aws: %s', (_name, change, expected) => {
    expect(problem(change(awsRaw()))).toMatch(expected);
  });

  it('names the line of a YAML syntax error and refuses duplicate keys', () => {
    expect(() => parseCeremonyDefinition('version: 1\nid: [unclosed\n')).toThrow(
      /^ceremony definition: line \d+, column \d+: not valid YAML/,
    );
    expect(() => parseCeremonyDefinition('version: 1\nversion: 1\n')).toThrow(/not valid YAML: .*unique/i);
    expect(() => parseCeremonyDefinition('- 1\n')).toThrow(/\(root\): must be a mapping/);
  });
});

function rsaPem(): string {
  return `-----BEGIN PUBLIC KEY-----
MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf
9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==
-----END PUBLIC KEY-----`;
}
