import { describe, expect, it } from 'vitest';
import { ByokError, CKR, ckrName, hex8 } from '../src/errors.js';

describe('errors', () => {
  it('formats like the original', () => {
    const e = new ByokError('CKR_TOKEN_NOT_FOUND', "token 'x' not found");
    expect(e.describe()).toBe("token 'x' not found: CKR_TOKEN_NOT_FOUND (0x8000E008)");
    expect(ckrName(CKR.CKR_PIN_INCORRECT)).toBe('CKR_PIN_INCORRECT');
    expect(hex8(0xa0)).toBe('0x000000A0');
  });
});
