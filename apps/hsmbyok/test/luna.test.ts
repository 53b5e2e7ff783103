/**
 * The Luna path, through the test shim (SoftHSM underneath, Luna's manufacturer, one-step
 * CKM_RSA_AES_KEY_WRAP, vendor CKM_AES_KWP, CA_* partition policies read from a file).
 */
import { join } from 'node:path';
import { parseKeySpec } from '@byok/core';
import {
  buildLunaShim,
  DEFAULT_LUNA_POLICIES,
  LunaPolicy,
  lunaShimEnv,
  proveByokFile,
  writeLunaPolicies,
} from '@byok/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createFixture,
  errorLines,
  type Fixture,
  hsmPublicKey,
  lastLine,
  leftovers,
  OPTION,
  objectsLabelled,
  PIN_ARGS,
  runHsmbyok,
} from './helpers.js';

let fx: Fixture;
let policyFile: string;

beforeAll(async () => {
  const shim = await buildLunaShim();
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  policyFile = join(await mkdtemp(join(tmpdir(), 'hsmbyok-luna-')), 'policies');
  fx = await createFixture({ libraryName: shim, extraEnv: lunaShimEnv({ policyFile }) });
});
afterAll(async () => {
  await fx?.cleanup();
});
beforeEach(async () => {
  await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES });
});

describe('Luna (shim)', () => {
  it('wraps in one step with CKM_RSA_AES_KEY_WRAP and the blob unwraps to the HSM key', async () => {
    const label = 'luna-one-step';
    const dir = await fx.workdir({
      targetKeyName: label,
      wrappingCiphers: 'CKG_MGF1_SHA1, CKM_RSA_AES_KEY_WRAP',
    });
    const run = await runHsmbyok([OPTION, ...PIN_ARGS], { cwd: dir, env: fx.env });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/INFO: wrap method \(one-step\): CKM_RSA_AES_KEY_WRAP/);
    expect(run.stdout).toMatch(/INFO: policy partition policy 1 "[^"]*": pass/);
    expect(run.stdout).toContain('\nINFO: targetBlob.byok\n');
    const spec = parseKeySpec('CKK_RSA, 2048, none');
    const expectedPublicKey = await hsmPublicKey(fx, label, spec);
    const proven = await proveByokFile(join(dir, 'targetBlob.byok'), fx.kek.privateKey, {
      oaepHash: 'sha1',
      spec,
      expectedPublicKey,
    });
    expect(proven.blob.generator).toMatch(/^hsmbyok 1\.1\.0; byok \d+\.\d+$/);
  });

  it("wraps in two steps with Luna's CKM_AES_KWP (0x80000171), logged as the RFC 5649 mechanism", async () => {
    const label = 'luna-two-step-ec';
    const dir = await fx.workdir({
      targetKeyName: label,
      targetKeySpec: 'CKK_EC, 384, "P-384"',
      wrappingCiphers: 'CKG_MGF1_SHA1, CKM_AES_KWP',
    });
    const run = await runHsmbyok([OPTION, ...PIN_ARGS], { cwd: dir, env: fx.env });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/INFO: wrap method \(two-step\): .*0x80000171.* as RFC 5649/);
    const spec = parseKeySpec('CKK_EC, 384, "P-384"');
    await proveByokFile(join(dir, 'targetBlob.byok'), fx.kek.privateKey, {
      oaepHash: 'sha1',
      spec,
      expectedPublicKey: await hsmPublicKey(fx, label, spec),
    });
  });

  it('refuses before generating anything when partition policy 1 (private key wrapping) is off', async () => {
    await writeLunaPolicies(policyFile, {
      ...DEFAULT_LUNA_POLICIES,
      [LunaPolicy.privateKeyWrapping]: 0,
      [LunaPolicy.privateKeyCloning]: 1,
    });
    const label = 'luna-policy-off';
    const dir = await fx.workdir({
      targetKeyName: label,
      wrappingCiphers: 'CKG_MGF1_SHA1, CKM_RSA_AES_KEY_WRAP',
    });
    const run = await runHsmbyok([OPTION, ...PIN_ARGS], { cwd: dir, env: fx.env });
    expect(run.exitCode).toBe(1);
    const errors = errorLines(run.stdout);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^ERROR: partition policy 1 .*: CKR_POLICY_VIOLATION \(0x8000E010\)$/);
    expect(lastLine(run.stdout)).toBe('ERROR: overall failure: CKR_POLICY_VIOLATION (0x8000E010)');
    expect(run.stdout).not.toContain('generating a new key');
    expect(leftovers(dir)).toEqual([]);
    expect(await objectsLabelled(fx, label)).toEqual([]);
  });

  it('--check prints a verdict table, exits 1 on a failing policy and changes nothing', async () => {
    await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES, [LunaPolicy.privateKeyWrapping]: 0 });
    const label = 'luna-check';
    const dir = await fx.workdir({
      targetKeyName: label,
      wrappingCiphers: 'CKG_MGF1_SHA1, CKM_RSA_AES_KEY_WRAP',
    });
    const failing = await runHsmbyok(['--check', ...PIN_ARGS], { cwd: dir, env: fx.env });
    expect(failing.exitCode).toBe(1);
    expect(failing.stdout).toMatch(/\n {2}STATUS {2}CHECK +DETAIL\n/);
    expect(failing.stdout).toMatch(/\n {2}FAIL +partition policy 1 /);
    expect(failing.stdout).toMatch(/\n {2}PASS +token +slot /);
    expect(lastLine(failing.stdout)).toMatch(/^ERROR: overall failure: CKR_POLICY_VIOLATION/);

    await writeLunaPolicies(policyFile, { ...DEFAULT_LUNA_POLICIES });
    const passing = await runHsmbyok(['--check', ...PIN_ARGS, '--json'], { cwd: dir, env: fx.env });
    expect(passing.exitCode, passing.stderr).toBe(0);
    const doc = JSON.parse(passing.stdout) as { ok: boolean; checks: { status: string; id: string }[] };
    expect(doc.ok).toBe(true);
    expect(doc.checks.map((c) => c.id)).toEqual(
      expect.arrayContaining([
        'config',
        'kek',
        'output',
        'library',
        'token',
        'mechanisms',
        'login',
        'target',
      ]),
    );
    expect(doc.checks.every((c) => c.status === 'pass' || c.status === 'warn')).toBe(true);
    expect(passing.stderr).toMatch(/\n {2}PASS +target key +luna-check: not on the token/);
    // Nothing changed: no key generated, no output written.
    expect(await objectsLabelled(fx, label)).toEqual([]);
    expect(leftovers(dir)).toEqual([]);
  });
});
