import { ByokError } from '@byok/core';
import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { mechanismName } from '../src/constants.js';
import { ckrOf, toByokError } from '../src/errors.js';

describe('toByokError', () => {
  it('maps by the numeric code, not by the message text', () => {
    // The message names another CKR on purpose: only `code` may decide.
    const err = toByokError(new pkcs11js.Pkcs11Error('device said no', 0xa4, 'C_Login'), 'C_Login');
    expect(err.code).toBe('CKR_PIN_LOCKED');
    expect(err.ckr).toBe(0xa4);
    expect(err.message).toBe('C_Login failed: the PIN is locked after too many failed attempts');
    expect(err.describe()).toBe(
      'C_Login failed: the PIN is locked after too many failed attempts: CKR_PIN_LOCKED (0x000000A4)',
    );
  });

  it('names the PKCS#11 function when the context does not', () => {
    const err = toByokError(new pkcs11js.Pkcs11Error('x', 0x6a, 'C_WrapKey'), "wrapping 'k'");
    expect(err.code).toBe('CKR_KEY_UNEXTRACTABLE');
    expect(err.message).toBe(
      "wrapping 'k' failed (C_WrapKey): the key is not extractable (it was generated without CKF_EXTRACTABLE)",
    );
  });

  it('keeps vendor codes as CKR_VENDOR_DEFINED with their number', () => {
    const err = toByokError(new pkcs11js.Pkcs11Error('x', 0x80000123, 'C_WrapKey'), 'C_WrapKey');
    expect(err.code).toBe('CKR_VENDOR_DEFINED_0x80000123');
    expect(err.ckr).toBe(0x80000123);
  });

  it('passes ByokErrors through and turns anything else into CKR_FUNCTION_FAILED', () => {
    const original = new ByokError('CKR_PIN_INVALID', 'short');
    expect(toByokError(original, 'x')).toBe(original);
    const other = toByokError(new TypeError('Argument 1 has wrong type\n  at native'), 'C_Sign');
    expect(other.code).toBe('CKR_FUNCTION_FAILED');
    expect(other.message).toBe('C_Sign failed: Argument 1 has wrong type');
    expect(ckrOf(new Error('CKR_PIN_INCORRECT:160'))).toBeUndefined();
  });
});

describe('mechanismName', () => {
  it('names standard, vendor and unknown mechanisms with their number', () => {
    expect(mechanismName(0x210a)).toBe('CKM_AES_KEY_WRAP_PAD (0x0000210A)');
    expect(mechanismName(0x80000171)).toBe('CKM_AES_KWP (0x80000171)');
    expect(mechanismName(0x1054)).toBe('CKM_RSA_AES_KEY_WRAP (0x00001054)');
    expect(mechanismName(0x80000999)).toBe('CKM_VENDOR_DEFINED (0x80000999)');
    expect(mechanismName(0x4242)).toBe('CKM (0x00004242)');
  });
});
