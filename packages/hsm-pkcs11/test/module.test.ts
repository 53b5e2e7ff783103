import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ByokError } from '@byok/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKM } from '../src/constants.js';
import { Pkcs11Module } from '../src/module.js';
import {
  AES_256,
  createRawSecretKey,
  EXPORTABLE,
  ecSpec,
  RSA_2048,
  type SoftHsmFixture,
  softHsmFixture,
} from './helpers.js';

function caught(fn: () => unknown): ByokError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ByokError) return err;
    throw err;
  }
  throw new Error('expected a ByokError, nothing was thrown');
}

let fx: SoftHsmFixture;

beforeAll(async () => {
  fx = await softHsmFixture(['byok-test', 'other-token']);
});

afterAll(async () => {
  await fx?.close();
});

describe('Pkcs11Module.load', () => {
  it('reports a missing file as CKR_LOAD_LIBRARY with the path and the config hint', () => {
    const err = caught(() => Pkcs11Module.load('/nonexistent/libnothing.so'));
    expect(err.code).toBe('CKR_LOAD_LIBRARY');
    expect(err.message).toBe(
      "cannot load PKCS#11 library '/nonexistent/libnothing.so': no such file; check libraryName in HsmConfig.ini",
    );
  });

  it('reports a file that is no shared library as CKR_LOAD_LIBRARY', () => {
    const path = join(fx.hsm.dir, 'not-a-library.so');
    writeFileSync(path, 'hello');
    const err = caught(() => Pkcs11Module.load(path));
    expect(err.code).toBe('CKR_LOAD_LIBRARY');
    expect(err.message).toMatch(/^cannot load PKCS#11 library '.*not-a-library\.so': .+; check libraryName/);
  });

  it('reports a shared library without C_GetFunctionList as CKR_LOAD_LIBRARY_SYMBOL', () => {
    const err = caught(() => Pkcs11Module.load('libz.so.1'));
    expect(err.code).toBe('CKR_LOAD_LIBRARY_SYMBOL');
    expect(err.describe()).toMatch(/C_GetFunctionList.*: CKR_LOAD_LIBRARY_SYMBOL \(0x8000E002\)$/);
  });

  it('describes the library and shares one initialisation between two loads', () => {
    expect(fx.module.info().manufacturer).toBe('SoftHSM');
    expect(fx.module.isSoftHsm).toBe(true);
    expect(fx.module.luna).toBeUndefined();
    const second = Pkcs11Module.load(fx.hsm.libraryPath);
    second.close();
    second.close(); // idempotent
    // Still initialised for the first holder: C_Finalize only runs when the last one closes.
    expect(fx.module.tokens().map((t) => t.label)).toContain('byok-test');
  });
});

describe('tokens', () => {
  it('lists initialised tokens only, by label, with firmware', () => {
    const labels = fx.module.tokens().map((t) => t.label);
    expect(labels.sort()).toEqual(['byok-test', 'other-token']);
    expect(fx.token.firmware).toMatch(/^\d+\.\d+$/);
    expect(fx.token.manufacturer).toBe('SoftHSM project');
  });

  it('finds a token by label and lists the labels present when it is missing', () => {
    expect(fx.module.findToken('other-token').label).toBe('other-token');
    const err = caught(() => fx.module.findToken('byok'));
    expect(err.code).toBe('CKR_TOKEN_NOT_FOUND');
    expect(err.message).toBe("token 'byok' not found; tokens present: 'byok-test', 'other-token'");
    expect(err.ckr).toBe(0x8000e008);
  });

  it('lists mechanisms with their flags and carries the manufacturer', () => {
    const mechs = fx.module.mechanisms(fx.token.slotId);
    expect(mechs.get(CKM.CKM_RSA_PKCS_OAEP)?.flags ?? 0).toBeGreaterThan(0);
    expect(mechs.has(CKM.CKM_RSA_AES_KEY_WRAP)).toBe(false);
    expect(mechs.manufacturer).toBe('SoftHSM');
    expect(fx.module.mechanismInfo(fx.token.slotId, CKM.CKM_LUNA_AES_KWP)).toBeUndefined();
  });
});

describe('login', () => {
  it('refuses a PIN shorter than 7 characters without asking the token', () => {
    const session = fx.module.openSession(fx.token.slotId);
    try {
      const err = caught(() => session.login('123456'));
      expect(err.code).toBe('CKR_PIN_INVALID');
      expect(err.message).not.toContain('123456');
      // Not even a failed C_Login happened: SoftHSM would have counted it; the right PIN still works.
      session.login(fx.pin);
    } finally {
      session.close();
    }
  });

  it('maps a wrong PIN by code to CKR_PIN_INCORRECT with a sentence and no PIN', () => {
    const session = fx.module.openSession(fx.token.slotId);
    try {
      const err = caught(() => session.login('wrong-pin-1234'));
      expect(err.code).toBe('CKR_PIN_INCORRECT');
      expect(err.ckr).toBe(0xa0);
      expect(err.message).toBe('C_Login failed: the PIN is incorrect');
      expect(err.describe()).toBe('C_Login failed: the PIN is incorrect: CKR_PIN_INCORRECT (0x000000A0)');
      expect(JSON.stringify(err) + err.message + String(err.stack)).not.toContain('wrong-pin-1234');
    } finally {
      session.close();
    }
  });
});

describe('finding target keys', () => {
  it('finds none, one and several keys by label', () => {
    const session = fx.openLoggedIn();
    try {
      expect(session.findTargetKeys('nothing-here')).toEqual([]);
      expect(session.findTargetKey('nothing-here')).toBeUndefined();
      session.generateTargetKey('one-key', AES_256, EXPORTABLE);
      const [one, ...rest] = session.findTargetKeys('one-key');
      expect(rest).toEqual([]);
      expect(one?.objectClass).toBe('secret');
      expect(one?.id.toString()).toBe('one-key');
      session.generateTargetKey('twice', AES_256, EXPORTABLE);
      session.generateTargetKey('twice', RSA_2048, EXPORTABLE);
      expect(
        session
          .findTargetKeys('twice')
          .map((k) => k.objectClass)
          .sort(),
      ).toEqual(['private', 'secret']);
      const err = caught(() => session.findTargetKey('twice'));
      expect(err.code).toBe('CKR_MULTIPLE_OBJECTS');
      expect(err.message).toContain("2 keys are labelled 'twice'");
    } finally {
      session.close();
    }
  });

  it('finds a key with CKA_PRIVATE=false (the original missed it and generated a duplicate)', () => {
    const session = fx.openLoggedIn();
    try {
      createRawSecretKey(fx, 'public-readable', [
        { type: CKA.CKA_PRIVATE, value: false },
        { type: CKA.CKA_EXTRACTABLE, value: true },
      ]);
      const found = session.findTargetKeys('public-readable');
      expect(found).toHaveLength(1);
      expect(found[0]?.private).toBe(false);
      const key = session.loadTargetKey(found[0] ?? fail(), AES_256);
      expect(key.private).toBe(false);
      expect(key.extractable).toBe(true);
      expect(key.generated).toBe(false);
    } finally {
      session.close();
    }
  });

  it('reports an existing key of another type, size or curve, naming both', () => {
    const session = fx.openLoggedIn();
    try {
      session.generateTargetKey('ec-key', ecSpec('P-256'), EXPORTABLE);
      const [found] = session.findTargetKeys('ec-key');
      const asRsa = caught(() => session.loadTargetKey(found ?? fail(), RSA_2048));
      expect(asRsa.code).toBe('CKR_KEY_TYPE_INCONSISTENT');
      expect(asRsa.message).toBe(
        "existing key 'ec-key' is EC but targetKeySpec asks for RSA-2048; change targetKeyName or targetKeySpec",
      );
      const asP384 = caught(() => session.loadTargetKey(found ?? fail(), ecSpec('P-384')));
      expect(asP384.message).toContain("'ec-key' is EC P-256 but targetKeySpec asks for EC P-384");
      const loaded = session.loadTargetKey(found ?? fail(), ecSpec('P-256'));
      expect(loaded.publicKey?.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(loaded.publicHandle).toBeDefined();

      session.generateTargetKey('aes-128-key', { kind: 'aes', bits: 128 }, EXPORTABLE);
      const [aes] = session.findTargetKeys('aes-128-key');
      const asAes256 = caught(() => session.loadTargetKey(aes ?? fail(), AES_256));
      expect(asAes256.message).toContain("'aes-128-key' is AES-128 but targetKeySpec asks for AES-256");
    } finally {
      session.close();
    }
  });

  it('pairs each private key with its own public half when labels and ids clash', () => {
    const session = fx.openLoggedIn();
    try {
      const p256 = session.generateTargetKey('clash', ecSpec('P-256'), EXPORTABLE);
      const k1 = session.generateTargetKey('clash', ecSpec('secp256k1'), EXPORTABLE);
      const found = session.findTargetKeys('clash');
      expect(found).toHaveLength(2);
      const loaded = found.map((f) => {
        try {
          return session.loadTargetKey(f, ecSpec('secp256k1'));
        } catch {
          return session.loadTargetKey(f, ecSpec('P-256'));
        }
      });
      const keys = loaded.map((k) => k.publicKey?.export({ format: 'der', type: 'spki' }).toString('hex'));
      expect(keys.sort()).toEqual(
        [p256, k1].map((k) => k.publicKey?.export({ format: 'der', type: 'spki' }).toString('hex')).sort(),
      );
    } finally {
      session.close();
    }
  });

  it('reads an existing RSA key back with its public key and size', () => {
    const session = fx.openLoggedIn();
    try {
      const generated = session.generateTargetKey('rsa-existing', RSA_2048, EXPORTABLE);
      const [found] = session.findTargetKeys('rsa-existing');
      const key = session.loadTargetKey(found ?? fail(), RSA_2048);
      expect(key.generated).toBe(false);
      expect(key.publicKey?.equals(generated.publicKey ?? fail())).toBe(true);
      const wrongSize = caught(() => session.loadTargetKey(found ?? fail(), { kind: 'rsa', bits: 3072 }));
      expect(wrongSize.message).toContain('is RSA-2048 but targetKeySpec asks for RSA-3072');
    } finally {
      session.close();
    }
  });
});

function fail(): never {
  throw new Error('expected a value');
}
