/**
 * Every error row of the original, run through the built CLI: the message line, the closing
 * `ERROR: overall failure: CKR_X (0x...)`, the exit code, no output file, and no key left on the token.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConfigValues,
  configText,
  createFixture,
  defaultConfig,
  errorLines,
  type Fixture,
  lastLine,
  leftovers,
  makeKey,
  OPTION,
  objectsLabelled,
  PIN_ARGS,
  PIN_ENV,
  runHsmbyok,
} from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await createFixture();
});
afterAll(async () => {
  await fx?.cleanup();
});

interface Expected {
  /** The one diagnostic ERROR line (before the closing line). */
  readonly message: RegExp;
  readonly ckr: string;
}

/** Runs with `args`, checks exit 1, exactly one diagnostic ERROR line + the closing line, and no output file. */
async function expectFailure(
  dir: string,
  args: readonly string[],
  expected: Expected,
  env = fx.env,
): Promise<string> {
  const run = await runHsmbyok(args, { cwd: dir, env });
  expect(run.stderr).toBe('');
  expect(run.exitCode, run.stdout).toBe(1);
  const errors = errorLines(run.stdout);
  expect(errors, run.stdout).toHaveLength(2);
  expect(errors[0]).toMatch(expected.message);
  expect(errors[0]?.endsWith(`: ${expected.ckr}`)).toBe(true);
  expect(lastLine(run.stdout)).toBe(`ERROR: overall failure: ${expected.ckr}`);
  expect(run.stdout).not.toContain('Traceback');
  expect(run.stdout).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
  expect(leftovers(dir).filter((f) => f !== 'a.ini' && f !== 'ec.pem' && f !== 'bad.pem')).toEqual([]);
  return run.stdout;
}

const ARGS_BAD = 'CKR_ARGUMENTS_BAD (0x00000007)';

describe('HsmConfig.ini errors (all CKR_ARGUMENTS_BAD, as the original)', () => {
  it('missing HsmConfig.ini', async () => {
    const dir = await fx.workdir();
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, 'HsmConfig.ini'));
    const out = await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: \.\/HsmConfig\.ini: file not found/,
      ckr: ARGS_BAD,
    });
    expect(out).not.toContain('ReadIni');
  });

  const keys: (keyof ConfigValues)[] = [
    'libraryName',
    'tokenLabel',
    'wrappingCiphers',
    'SchemaVersion',
    'kid',
    'targetKeyName',
    'targetKeySpec',
    'targetKeyFlags',
  ];
  for (const key of keys) {
    it(`missing ${key}`, async () => {
      const dir = await fx.workdir();
      await writeFile(join(dir, 'HsmConfig.ini'), configText(defaultConfig(fx.softhsm.libraryPath), [key]));
      await expectFailure(dir, [OPTION, ...PIN_ARGS], {
        message: new RegExp(`^ERROR: \\./HsmConfig\\.ini \\[byok\\] ${key}: missing`),
        ckr: ARGS_BAD,
      });
    });
  }

  const badValues: [string, Partial<ConfigValues>, RegExp, string][] = [
    [
      'misspelled flag',
      { targetKeyFlags: 'CKF_TOKEN, CKF_EXTRACTABL' },
      /unknown flag 'CKF_EXTRACTABL'/,
      ARGS_BAD,
    ],
    ['unknown key type', { targetKeySpec: 'CKK_DSA, 2048, none' }, /unknown key type 'CKK_DSA'/, ARGS_BAD],
    ['unknown curve', { targetKeySpec: 'CKK_EC, 256, "P-999"' }, /unknown curve 'P-999'/, ARGS_BAD],
    [
      'curve of another size',
      { targetKeySpec: 'CKK_EC, 384, "P-256"' },
      /curve P-256 is 256 bits, not 384/,
      ARGS_BAD,
    ],
    ['RSA size out of range', { targetKeySpec: 'CKK_RSA, 512, none' }, /RSA size 512/, ARGS_BAD],
    ['empty kid', { kid: '' }, /kid: empty value/, ARGS_BAD],
    [
      'no OAEP hash listed',
      { wrappingCiphers: 'CKM_AES_KWP' },
      /wrappingCiphers: no OAEP hash/,
      'CKR_MECHANISM_INVALID (0x00000070)',
    ],
  ];
  for (const [name, override, message, ckr] of badValues) {
    it(name, async () => {
      const dir = await fx.workdir({ targetKeyName: `bad-${name.replace(/\W+/g, '-')}`, ...override });
      const out = await expectFailure(dir, [OPTION, ...PIN_ARGS], { message, ckr });
      // Rejected before the library is even loaded.
      expect(out).not.toContain('loading PKCS#11 library');
    });
  }
});

describe('kekBlob.pem errors (checked before the HSM is opened)', () => {
  it('missing kekBlob.pem: CKR_FILE_NOT_FOUND, and no key generated', async () => {
    const label = 'no-kek';
    const dir = await fx.workdir({ targetKeyName: label }, { kek: false });
    const out = await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: \.\/kekBlob\.pem: file not found/,
      ckr: 'CKR_FILE_NOT_FOUND (0x8000E003)',
    });
    expect(out).not.toContain('loading PKCS#11 library');
    expect(await objectsLabelled(fx, label)).toEqual([]);
  });

  it('EC kekBlob.pem', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const dir = await fx.workdir({ targetKeyName: 'ec-kek' });
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(dir, 'kekBlob.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: \.\/kekBlob\.pem: the KEK is an EC key/,
      ckr: 'CKR_KEY_TYPE_INCONSISTENT (0x00000063)',
    });
    expect(await objectsLabelled(fx, 'ec-kek')).toEqual([]);
  });

  it('kekBlob.pem that is not a PEM public key', async () => {
    const dir = await fx.workdir({ targetKeyName: 'garbage-kek' });
    await writeFile(join(dir, 'kekBlob.pem'), 'not a key\n');
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: \.\/kekBlob\.pem: holds no PEM block/,
      ckr: 'CKR_FILE_IO (0x8000E004)',
    });
  });
});

describe('library, token and PIN errors', () => {
  it('bad library path: CKR_LOAD_LIBRARY', async () => {
    const dir = await fx.workdir({ libraryName: '/nonexistent/libcklog2.so' });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: cannot load PKCS#11 library '\/nonexistent\/libcklog2\.so'/,
      ckr: 'CKR_LOAD_LIBRARY (0x8000E001)',
    });
  });

  it('a library that is not PKCS#11: CKR_LOAD_LIBRARY_SYMBOL', async () => {
    const libc = [
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib/aarch64-linux-gnu/libc.so.6',
      '/usr/lib/libc.so.6',
    ].find((p) => existsSync(p));
    if (!libc) return;
    const dir = await fx.workdir({ libraryName: libc });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /does not export C_GetFunctionList/,
      ckr: 'CKR_LOAD_LIBRARY_SYMBOL (0x8000E002)',
    });
  });

  it('wrong token label: CKR_TOKEN_NOT_FOUND naming the tokens present', async () => {
    const dir = await fx.workdir({ tokenLabel: 'par1hsm1' });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: token 'par1hsm1' not found; tokens present: 'byok'/,
      ckr: 'CKR_TOKEN_NOT_FOUND (0x8000E008)',
    });
  });

  it('wrong PIN: CKR_PIN_INCORRECT, no key generated', async () => {
    const label = 'wrong-pin';
    const dir = await fx.workdir({ targetKeyName: label });
    await expectFailure(
      dir,
      [OPTION, ...PIN_ARGS],
      { message: /^ERROR: C_Login failed: the PIN is incorrect/, ckr: 'CKR_PIN_INCORRECT (0x000000A0)' },
      { ...fx.env, [PIN_ENV]: 'not-the-pin' },
    );
    expect(await objectsLabelled(fx, label)).toEqual([]);
  });

  it('PIN shorter than 7 characters: CKR_PIN_INVALID before the library is loaded', async () => {
    const dir = await fx.workdir();
    const out = await expectFailure(
      dir,
      [OPTION, ...PIN_ARGS],
      { message: /^ERROR: the PIN is shorter than 7 characters/, ckr: 'CKR_PIN_INVALID (0x000000A1)' },
      { ...fx.env, [PIN_ENV]: '123456' },
    );
    expect(out).not.toContain('loading PKCS#11 library');
  });

  it('SHA-256 OAEP on SoftHSM is refused before anything (never a silent fallback)', async () => {
    const label = 'sha256-softhsm';
    const dir = await fx.workdir({
      targetKeyName: label,
      wrappingCiphers: 'CKG_MGF1_SHA1, CKG_MGF1_SHA256, CKM_AES_KWP',
    });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /SoftHSM supports OAEP with SHA-1 only/,
      ckr: 'CKR_MECHANISM_PARAM_INVALID (0x00000071)',
    });
    expect(await objectsLabelled(fx, label)).toEqual([]);
  });
});

describe('target key errors', () => {
  it('not found without CKF_CREATE_IF_NOT_FOUND: the original words, CKR_OBJECT_NOT_FOUND', async () => {
    const label = 'absent-key';
    const dir = await fx.workdir({
      targetKeyName: label,
      targetKeyFlags: 'CKF_SIGN, CKF_TOKEN, CKF_EXTRACTABLE',
    });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: targetKeyName not found: absent-key: /,
      ckr: 'CKR_OBJECT_NOT_FOUND (0x8000E000)',
    });
    expect(await objectsLabelled(fx, label)).toEqual([]);
  });

  it('duplicate labels: CKR_MULTIPLE_OBJECTS', async () => {
    const label = 'twice';
    await makeKey(fx, { label, kind: 'aes', bits: 256, private: true, extractable: true });
    await makeKey(fx, { label, kind: 'aes', bits: 256, private: true, extractable: true });
    const dir = await fx.workdir({ targetKeyName: label, targetKeySpec: 'CKK_AES, 256, none' });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: found multiple objects with the same targetKeyName: twice: /,
      ckr: 'CKR_MULTIPLE_OBJECTS (0x8000E006)',
    });
    expect(await objectsLabelled(fx, label)).toHaveLength(2);
  });

  it('existing key not extractable: refused by the preflight, before any wrap', async () => {
    const label = 'stuck-rsa';
    await makeKey(fx, { label, kind: 'rsa', bits: 2048, private: true, extractable: false });
    const dir = await fx.workdir({ targetKeyName: label });
    const out = await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: CKA_EXTRACTABLE of 'stuck-rsa': .*CKA_EXTRACTABLE=false/,
      ckr: 'CKR_KEY_UNEXTRACTABLE (0x0000006A)',
    });
    expect(out).not.toContain('importing the KEK');
  });

  it('existing key of another type than targetKeySpec: CKR_KEY_TYPE_INCONSISTENT', async () => {
    const label = 'really-aes';
    await makeKey(fx, { label, kind: 'aes', bits: 128, private: true, extractable: true });
    const dir = await fx.workdir({ targetKeyName: label, targetKeySpec: 'CKK_AES, 256, none' });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: existing key 'really-aes' is AES-128 but targetKeySpec asks for AES-256/,
      ckr: 'CKR_KEY_TYPE_INCONSISTENT (0x00000063)',
    });
  });

  it('generation without CKF_EXTRACTABLE is refused before generating (the original made an unexportable key)', async () => {
    const label = 'would-be-stuck';
    const dir = await fx.workdir({
      targetKeyName: label,
      targetKeyFlags: 'CKF_SIGN, CKF_TOKEN, CKF_CREATE_IF_NOT_FOUND',
    });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /^ERROR: CKA_EXTRACTABLE of the key to generate: /,
      ckr: 'CKR_KEY_UNEXTRACTABLE (0x0000006A)',
    });
    expect(await objectsLabelled(fx, label)).toEqual([]);
  });

  it('generation without CKF_TOKEN is refused (the original made a key that vanished)', async () => {
    const label = 'would-vanish';
    const dir = await fx.workdir({
      targetKeyName: label,
      targetKeyFlags: 'CKF_SIGN, CKF_EXTRACTABLE, CKF_CREATE_IF_NOT_FOUND',
    });
    await expectFailure(dir, [OPTION, ...PIN_ARGS], {
      message: /lacks CKF_TOKEN/,
      ckr: 'CKR_TEMPLATE_INCONSISTENT (0x000000D1)',
    });
    expect(await objectsLabelled(fx, label)).toEqual([]);
  });
});

describe('a failure after generation destroys the key generated in this run', () => {
  it('Ctrl-C (SIGINT) while an RSA-4096 key is being generated: key destroyed, no file', async () => {
    const { spawn } = await import('node:child_process');
    const { BIN } = await import('./helpers.js');
    const label = 'interrupted';
    const dir = await fx.workdir({ targetKeyName: label, targetKeySpec: 'CKK_RSA, 4096, none' });
    const child = spawn(process.execPath, [BIN, OPTION, ...PIN_ARGS], {
      cwd: dir,
      env: { ...process.env, ...fx.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!sent && stdout.includes('generating a new key')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    expect(sent).toBe(true);
    expect(exitCode, stdout).toBe(1);
    expect(stdout).toContain(
      `WARNING: destroyed the key generated in this run because a later step failed: ${label}\n`,
    );
    expect(errorLines(stdout)).toEqual([
      'ERROR: interrupted (SIGINT): CKR_CANCEL (0x00000001)',
      'ERROR: overall failure: CKR_CANCEL (0x00000001)',
    ]);
    expect(leftovers(dir)).toEqual([]);
    expect(await objectsLabelled(fx, label)).toEqual([]);
  }, 180_000);
});

describe('argv (checked before anything else, unlike the original which checked after login)', () => {
  it('no argument: usage, exit 255', async () => {
    const dir = await fx.workdir();
    const run = await runHsmbyok([], { cwd: dir, env: fx.env });
    expect(run.exitCode).toBe(255);
    expect(run.stdout).toContain('ERROR: usage: hsmbyok [option]\n');
    expect(run.stdout).toContain('    --generate-and-wrap-target-key\n');
    expect(run.stdout).not.toContain('ReadIni');
  });

  it('a stray argument: usage, exit 255', async () => {
    const dir = await fx.workdir();
    const run = await runHsmbyok([OPTION, 'extra'], { cwd: dir, env: fx.env });
    expect(run.exitCode).toBe(255);
    expect(run.stdout).toContain('ERROR: unexpected argument: extra\nERROR: usage: hsmbyok [option]\n');
  });

  for (const option of ['--generate-and-wrap-target-keys', 'generate', '--unwrap-target-key']) {
    it(`unrecognized option ${option}: CKR_INVALID_COMMAND before reading HsmConfig.ini`, async () => {
      const dir = await fx.workdir();
      const out = await expectFailure(dir, [option], {
        message: new RegExp(`^ERROR: unrecognized option: ${option}: `),
        ckr: 'CKR_INVALID_COMMAND (0x8000E005)',
      });
      expect(out).not.toContain('ReadIni');
    });
  }

  const bad: [string, string[], RegExp][] = [
    ['a value missing', [OPTION, '--config'], /^ERROR: option --config needs a value/],
    [
      'an option as a value',
      [OPTION, '--kek', '--pin-stdin'],
      /^ERROR: option --kek needs a value, found option --pin-stdin/,
    ],
    ['two PIN sources', [OPTION, '--pin-stdin', '--pin-env', 'X'], /^ERROR: choose one PIN source/],
    ['two commands', [OPTION, '--check'], /^ERROR: choose one of --generate-and-wrap-target-key, --check/],
    ['a value on a switch', [OPTION, '--json=yes'], /^ERROR: option --json takes no value/],
    [
      'an invalid variable name',
      [OPTION, '--pin-env', 'A-B'],
      /^ERROR: --pin-env wants an environment variable name/,
    ],
    [
      'an unset PIN variable',
      [OPTION, '--pin-env', 'HSMBYOK_UNSET_VAR'],
      /^ERROR: environment variable HSMBYOK_UNSET_VAR/,
    ],
    ['a missing PIN file', [OPTION, '--pin-file', 'nope.txt'], /^ERROR: PIN file nope\.txt not found/],
  ];
  for (const [name, args, message] of bad) {
    it(`${name}: one line, exit 1`, async () => {
      const dir = await fx.workdir();
      const run = await runHsmbyok(args, { cwd: dir, env: fx.env });
      expect(run.exitCode).toBe(1);
      const errors = errorLines(run.stdout);
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatch(message);
      expect(lastLine(run.stdout)).toMatch(/^ERROR: overall failure: CKR_[A-Z_]+ \(0x[0-9A-F]{8}\)$/);
      expect(leftovers(dir)).toEqual([]);
    });
  }
});
