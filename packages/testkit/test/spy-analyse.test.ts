import { describe, expect, it } from 'vitest';
import { analyseSpyLog } from '../src/index.js';

// Excerpts in the exact layout pkcs11-spy (OpenSC 0.23) writes; the live format is covered by the spy-* tests.
const banner =
  '\n\n*************** OpenSC PKCS#11 spy *****************\nLoaded: "/usr/lib/softhsm/libsofthsm2.so"\n';

const generateSession = (n: number, handle: string) => `
${n}: C_GenerateKey
2026-11-23 20:19:39.248
[in] hSession = 0x1
[in] pMechanism->type = CKM_AES_KEY_GEN              
[in] pMechanism->pParameter[ulParameterLen] NULL [size : 0x0 (0)]
[in] pTemplate[2]: 
    CKA_VALUE_LEN         00000000353a3bb0 / 8
    00000000  20 00 00 00 00 00 00 00                           .......        
    CKA_EXTRACTABLE       True
[out] hKey = ${handle}
Returned:  0 CKR_OK
`;

const generateToken = (n: number, handle: string) => `
${n}: C_GenerateKey
2026-11-23 20:19:39.248
[in] hSession = 0x1
[in] pMechanism->type = CKM_AES_KEY_GEN              
[in] pTemplate[2]: 
    CKA_TOKEN             True
    CKA_LABEL             00000000353a6b60 / 3
    746F6B
     t o k
[out] hKey = ${handle}
Returned:  0 CKR_OK
`;

const destroy = (n: number, handle: string) => `
${n}: C_DestroyObject
2026-11-23 20:19:39.266
[in] hSession = 0x1
[in] hObject = ${handle}
Returned:  0 CKR_OK
`;

const readValue = (n: number, handle: string) => `
${n}: C_GetAttributeValue
2026-11-23 20:19:39.262
[in] hSession = 0x1
[in] hObject = ${handle}
[in] pTemplate[2]: 
    CKA_VALUE             00000000353ac5f0 / 32
    CKA_LABEL             0000000000000000 / 0
[out] pTemplate[2]: 
    CKA_VALUE             00000000353ac5f0 / 32
    00000000  01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01  ................
    00000010  01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01  ................
    CKA_LABEL             0000000000000000 / 0
Returned:  0 CKR_OK
`;

const refusedRead = (n: number, handle: string) => `
${n}: C_GetAttributeValue
2026-11-23 20:19:39.262
[in] hSession = 0x1
[in] hObject = ${handle}
[in] pTemplate[2]: 
    CKA_PRIVATE_EXPONENT  0000000000000000 / 0
    CKA_MODULUS           0000000000000000 / 0
[out] pTemplate[2]: 
    CKA_PRIVATE_EXPONENT  0000000000000000 / -1
    CKA_MODULUS           0000000000000000 / 256
Returned:  17 CKR_ATTRIBUTE_SENSITIVE
`;

describe('analyseSpyLog', () => {
  it('counts session objects created and destroyed, ignoring token objects', () => {
    const log =
      banner +
      generateSession(1, '0x2') +
      generateToken(2, '0x3') +
      generateSession(3, '0x4') +
      destroy(4, '0x2');
    const analysis = analyseSpyLog(log);
    expect(analysis.calls).toEqual(['C_GenerateKey', 'C_GenerateKey', 'C_GenerateKey', 'C_DestroyObject']);
    expect(analysis.sessionObjectsCreated).toBe(2);
    expect(analysis.sessionObjectsDestroyed).toBe(1);
    expect(analysis.sessionObjectsLeft).toBe(1);
    expect(analysis.sessionObjectsLeftDetails).toEqual(['#3 C_GenerateKey -> 0x4']);
    expect(analysis.mechanisms).toHaveLength(3);
  });

  it('keeps the handles of different processes apart', () => {
    // Process 2 destroys its own 0x2; process 1's 0x2 stays.
    const log = banner + generateSession(1, '0x2') + banner + generateSession(1, '0x2') + destroy(2, '0x2');
    expect(analyseSpyLog(log).sessionObjectsLeft).toBe(1);
  });

  it("says 'unknown' when the log ends inside a call that creates objects", () => {
    const cut = generateSession(2, '0x3').split('[out]')[0] ?? '';
    expect(
      analyseSpyLog(banner + generateSession(1, '0x2') + destroy(2, '0x2') + cut).sessionObjectsLeft,
    ).toBe('unknown');
  });

  it('reports reads of key material, returned or refused, and not other attributes', () => {
    const analysis = analyseSpyLog(banner + readValue(1, '0x2') + refusedRead(2, '0x6'));
    expect(analysis.sensitiveReads).toEqual([
      '#1 C_GetAttributeValue CKA_VALUE of object 0x2: VALUE RETURNED',
      '#2 C_GetAttributeValue CKA_PRIVATE_EXPONENT of object 0x6: refused (CKR_ATTRIBUTE_SENSITIVE)',
    ]);
    expect(analysis.sensitiveReadDetails.map((r) => r.exposed)).toEqual([true, false]);
    expect(analysis.failures).toEqual(['#2 C_GetAttributeValue: CKR_ATTRIBUTE_SENSITIVE']);
  });

  it("does not count a certificate's CKA_VALUE", () => {
    const classRead = `
1: C_GetAttributeValue
[in] hSession = 0x1
[in] hObject = 0x9
[in] pTemplate[1]: 
    CKA_CLASS             00007ffe5f1de858 / 8
[out] pTemplate[1]: 
    CKA_CLASS             CKO_CERTIFICATE      
Returned:  0 CKR_OK
`;
    expect(analyseSpyLog(banner + classRead + readValue(2, '0x9')).sensitiveReads).toEqual([]);
  });
});
