/*
 * The small part of PKCS#11 v2.40 the Luna test shim needs, written from the OASIS specification.
 * Only what the shim touches is typed; the rest of the function list is a slot of the right size,
 * so the struct layout (version + 68 function pointers, in specification order) matches every module.
 * Linux/Unix conventions: no struct packing, CK_ULONG is unsigned long.
 */
#ifndef BYOK_P11_MIN_H
#define BYOK_P11_MIN_H

typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_BBOOL;
typedef CK_BYTE CK_UTF8CHAR;
typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_ULONG CK_ATTRIBUTE_TYPE;
typedef CK_ULONG CK_OBJECT_CLASS;
typedef CK_ULONG CK_KEY_TYPE;

#define CK_TRUE 1
#define CK_FALSE 0

typedef struct CK_VERSION {
  CK_BYTE major;
  CK_BYTE minor;
} CK_VERSION;

typedef struct CK_INFO {
  CK_VERSION cryptokiVersion;
  CK_UTF8CHAR manufacturerID[32];
  CK_FLAGS flags;
  CK_UTF8CHAR libraryDescription[32];
  CK_VERSION libraryVersion;
} CK_INFO;

typedef struct CK_TOKEN_INFO {
  CK_UTF8CHAR label[32];
  CK_UTF8CHAR manufacturerID[32];
  CK_UTF8CHAR model[16];
  CK_BYTE serialNumber[16];
  CK_FLAGS flags;
  CK_ULONG ulMaxSessionCount;
  CK_ULONG ulSessionCount;
  CK_ULONG ulMaxRwSessionCount;
  CK_ULONG ulRwSessionCount;
  CK_ULONG ulMaxPinLen;
  CK_ULONG ulMinPinLen;
  CK_ULONG ulTotalPublicMemory;
  CK_ULONG ulFreePublicMemory;
  CK_ULONG ulTotalPrivateMemory;
  CK_ULONG ulFreePrivateMemory;
  CK_VERSION hardwareVersion;
  CK_VERSION firmwareVersion;
  CK_BYTE utcTime[16];
} CK_TOKEN_INFO;

typedef struct CK_MECHANISM {
  CK_MECHANISM_TYPE mechanism;
  void *pParameter;
  CK_ULONG ulParameterLen;
} CK_MECHANISM;

typedef struct CK_MECHANISM_INFO {
  CK_ULONG ulMinKeySize;
  CK_ULONG ulMaxKeySize;
  CK_FLAGS flags;
} CK_MECHANISM_INFO;

typedef struct CK_ATTRIBUTE {
  CK_ATTRIBUTE_TYPE type;
  void *pValue;
  CK_ULONG ulValueLen;
} CK_ATTRIBUTE;

typedef struct CK_RSA_PKCS_OAEP_PARAMS {
  CK_MECHANISM_TYPE hashAlg;
  CK_ULONG mgf;
  CK_ULONG source;
  void *pSourceData;
  CK_ULONG ulSourceDataLen;
} CK_RSA_PKCS_OAEP_PARAMS;

typedef struct CK_RSA_AES_KEY_WRAP_PARAMS {
  CK_ULONG ulAESKeyBits;
  CK_RSA_PKCS_OAEP_PARAMS *pOAEPParams;
} CK_RSA_AES_KEY_WRAP_PARAMS;

/* Return values. */
#define CKR_OK 0x00UL
#define CKR_HOST_MEMORY 0x02UL
#define CKR_SLOT_ID_INVALID 0x03UL
#define CKR_GENERAL_ERROR 0x05UL
#define CKR_ARGUMENTS_BAD 0x07UL
#define CKR_MECHANISM_INVALID 0x70UL
#define CKR_MECHANISM_PARAM_INVALID 0x71UL
#define CKR_BUFFER_TOO_SMALL 0x150UL
#define CKR_CRYPTOKI_NOT_INITIALIZED 0x190UL

/* Mechanisms. */
#define CKM_RSA_PKCS_OAEP 0x09UL
#define CKM_RSA_AES_KEY_WRAP 0x1054UL
#define CKM_AES_KEY_GEN 0x1080UL
#define CKM_AES_KEY_WRAP_PAD 0x210AUL
/* A vendor-defined number, as Luna numbers its RFC 5649 mechanism (CKM_VENDOR_DEFINED | 0x171). */
#define CKM_VENDOR_AES_KWP 0x80000171UL

#define CKF_WRAP 0x00020000UL
#define CKF_UNWRAP 0x00040000UL

/* Attributes and values. */
#define CKA_CLASS 0x000UL
#define CKA_TOKEN 0x001UL
#define CKA_PRIVATE 0x002UL
#define CKA_KEY_TYPE 0x100UL
#define CKA_SENSITIVE 0x103UL
#define CKA_ENCRYPT 0x104UL
#define CKA_DECRYPT 0x105UL
#define CKA_WRAP 0x106UL
#define CKA_UNWRAP 0x107UL
#define CKA_VALUE_LEN 0x161UL
#define CKA_EXTRACTABLE 0x162UL
#define CKO_SECRET_KEY 0x04UL
#define CKK_AES 0x1FUL

/* Function signatures the shim calls or replaces. */
typedef CK_RV (*CK_C_Initialize)(void *pInitArgs);
typedef CK_RV (*CK_C_Finalize)(void *pReserved);
typedef CK_RV (*CK_C_GetInfo)(CK_INFO *pInfo);
typedef CK_RV (*CK_C_GetSlotInfo)(CK_SLOT_ID slotID, void *pInfo);
typedef CK_RV (*CK_C_GetTokenInfo)(CK_SLOT_ID slotID, CK_TOKEN_INFO *pInfo);
typedef CK_RV (*CK_C_GetMechanismList)(CK_SLOT_ID slotID, CK_MECHANISM_TYPE *pMechanismList, CK_ULONG *pulCount);
typedef CK_RV (*CK_C_GetMechanismInfo)(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *pInfo);
typedef CK_RV (*CK_C_GetSessionInfo)(CK_SESSION_HANDLE hSession, void *pInfo);
typedef CK_RV (*CK_C_DestroyObject)(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject);
typedef CK_RV (*CK_C_GenerateKey)(CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_ATTRIBUTE *pTemplate,
                                  CK_ULONG ulCount, CK_OBJECT_HANDLE *phKey);
typedef CK_RV (*CK_C_WrapKey)(CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE hWrappingKey,
                              CK_OBJECT_HANDLE hKey, CK_BYTE *pWrappedKey, CK_ULONG *pulWrappedKeyLen);
typedef CK_RV (*CK_C_UnwrapKey)(CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism,
                                CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE *pWrappedKey, CK_ULONG ulWrappedKeyLen,
                                CK_ATTRIBUTE *pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE *phKey);
/* Any entry the shim passes through untouched. */
typedef void (*CK_C_Untouched)(void);

struct CK_FUNCTION_LIST;
typedef CK_RV (*CK_C_GetFunctionList)(struct CK_FUNCTION_LIST **ppFunctionList);

typedef struct CK_FUNCTION_LIST {
  CK_VERSION version;
  CK_C_Initialize C_Initialize;
  CK_C_Finalize C_Finalize;
  CK_C_GetInfo C_GetInfo;
  CK_C_GetFunctionList C_GetFunctionList;
  CK_C_Untouched C_GetSlotList;
  CK_C_GetSlotInfo C_GetSlotInfo;
  CK_C_GetTokenInfo C_GetTokenInfo;
  CK_C_GetMechanismList C_GetMechanismList;
  CK_C_GetMechanismInfo C_GetMechanismInfo;
  CK_C_Untouched C_InitToken;
  CK_C_Untouched C_InitPIN;
  CK_C_Untouched C_SetPIN;
  CK_C_Untouched C_OpenSession;
  CK_C_Untouched C_CloseSession;
  CK_C_Untouched C_CloseAllSessions;
  CK_C_GetSessionInfo C_GetSessionInfo;
  CK_C_Untouched C_GetOperationState;
  CK_C_Untouched C_SetOperationState;
  CK_C_Untouched C_Login;
  CK_C_Untouched C_Logout;
  CK_C_Untouched C_CreateObject;
  CK_C_Untouched C_CopyObject;
  CK_C_DestroyObject C_DestroyObject;
  CK_C_Untouched C_GetObjectSize;
  CK_C_Untouched C_GetAttributeValue;
  CK_C_Untouched C_SetAttributeValue;
  CK_C_Untouched C_FindObjectsInit;
  CK_C_Untouched C_FindObjects;
  CK_C_Untouched C_FindObjectsFinal;
  CK_C_Untouched C_EncryptInit;
  CK_C_Untouched C_Encrypt;
  CK_C_Untouched C_EncryptUpdate;
  CK_C_Untouched C_EncryptFinal;
  CK_C_Untouched C_DecryptInit;
  CK_C_Untouched C_Decrypt;
  CK_C_Untouched C_DecryptUpdate;
  CK_C_Untouched C_DecryptFinal;
  CK_C_Untouched C_DigestInit;
  CK_C_Untouched C_Digest;
  CK_C_Untouched C_DigestUpdate;
  CK_C_Untouched C_DigestKey;
  CK_C_Untouched C_DigestFinal;
  CK_C_Untouched C_SignInit;
  CK_C_Untouched C_Sign;
  CK_C_Untouched C_SignUpdate;
  CK_C_Untouched C_SignFinal;
  CK_C_Untouched C_SignRecoverInit;
  CK_C_Untouched C_SignRecover;
  CK_C_Untouched C_VerifyInit;
  CK_C_Untouched C_Verify;
  CK_C_Untouched C_VerifyUpdate;
  CK_C_Untouched C_VerifyFinal;
  CK_C_Untouched C_VerifyRecoverInit;
  CK_C_Untouched C_VerifyRecover;
  CK_C_Untouched C_DigestEncryptUpdate;
  CK_C_Untouched C_DecryptDigestUpdate;
  CK_C_Untouched C_SignEncryptUpdate;
  CK_C_Untouched C_DecryptVerifyUpdate;
  CK_C_GenerateKey C_GenerateKey;
  CK_C_Untouched C_GenerateKeyPair;
  CK_C_WrapKey C_WrapKey;
  CK_C_UnwrapKey C_UnwrapKey;
  CK_C_Untouched C_DeriveKey;
  CK_C_Untouched C_SeedRandom;
  CK_C_Untouched C_GenerateRandom;
  CK_C_Untouched C_GetFunctionStatus;
  CK_C_Untouched C_CancelFunction;
  CK_C_Untouched C_WaitForSlotEvent;
} CK_FUNCTION_LIST;

#endif
