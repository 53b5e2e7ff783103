import koffi from 'koffi';

const CKM_SHA_1 = 0x220;
const CKG_MGF1_SHA1 = 1;
const CKZ_DATA_SPECIFIED = 1;

export const OaepParams = koffi.struct('TEST_CK_RSA_PKCS_OAEP_PARAMS', {
  hashAlg: 'unsigned long',
  mgf: 'unsigned long',
  source: 'unsigned long',
  pSourceData: 'void *',
  ulSourceDataLen: 'unsigned long',
});

/** Native memory the parameters point into; it must outlive the calls, so it lives as long as the process. */
const keepAlive: unknown[] = [];

/** CK_RSA_AES_KEY_WRAP_PARAMS as raw bytes: ulAESKeyBits, then a pointer to a CK_RSA_PKCS_OAEP_PARAMS. */
export function rsaAesParams(aesBits: number, hashAlg = CKM_SHA_1, mgf = CKG_MGF1_SHA1): Buffer {
  const oaep: unknown = koffi.alloc(OaepParams, 1);
  keepAlive.push(oaep);
  koffi.encode(oaep, OaepParams, {
    hashAlg,
    mgf,
    source: CKZ_DATA_SPECIFIED,
    pSourceData: null,
    ulSourceDataLen: 0,
  });
  const params = Buffer.alloc(16);
  params.writeBigUInt64LE(BigInt(aesBits), 0);
  params.writeBigUInt64LE(koffi.address(oaep), 8);
  return params;
}
