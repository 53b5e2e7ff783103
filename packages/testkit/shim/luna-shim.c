/*
 * luna-shim: a TEST-ONLY PKCS#11 module that makes another module (SoftHSM by default) look like a
 * Thales Luna partition, so the Luna code paths of @byok can run without a Luna.
 *
 * What it changes, and why each change exists:
 *  - C_GetInfo / C_GetTokenInfo report a Luna manufacturer and model: code detects a Luna by these.
 *  - RFC 5649 is offered only under Luna's vendor number 0x80000171 (0x210A is hidden and refused),
 *    so callers must probe for the right number instead of assuming SoftHSM's.
 *  - CKM_RSA_AES_KEY_WRAP (0x1054), which SoftHSM lacks, is implemented here from the target's own
 *    primitives (session AES key, RSA-OAEP wrap, RFC 5649 wrap), so one-step wrapping can be tested.
 *  - CA_GetUserContainerNumber / CA_GetContainerPolicySetting answer partition policies from a text file
 *    (env LUNA_SHIM_POLICY_FILE, re-read on every call) so tests can flip policies between calls.
 *
 * Environment:
 *   LUNA_SHIM_TARGET       module to forward to (default: SoftHSM at its Debian paths)
 *   LUNA_SHIM_POLICY_FILE  policy file, lines `id=value`, `#` comments. Unset or missing file: defaults.
 *
 * Everything else is forwarded untouched. Written from the PKCS#11 specification; no vendor headers.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-min.h"

#define EXPORT __attribute__((visibility("default")))

static const char *const DEFAULT_TARGETS[] = {
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_RV load_rv = CKR_GENERAL_ERROR;
static CK_FUNCTION_LIST *target;   /* the target's own list */
static CK_FUNCTION_LIST shim_list; /* a copy of it with our overrides */
static int initialized;            /* C_Initialize succeeded and no C_Finalize since */

/* ---- helpers ---------------------------------------------------------------------------------- */

static void blank_pad(CK_UTF8CHAR *field, size_t size, const char *text) {
  size_t len = strlen(text);
  if (len > size) len = size;
  memset(field, ' ', size);
  memcpy(field, text, len);
}

static int mechanism_offered_by_target(CK_SLOT_ID slot, CK_MECHANISM_TYPE type) {
  CK_MECHANISM_INFO info;
  return target->C_GetMechanismInfo(slot, type, &info) == CKR_OK;
}

/* ---- overrides -------------------------------------------------------------------------------- */

static CK_RV shim_Initialize(void *pInitArgs) {
  CK_RV rv = target->C_Initialize(pInitArgs);
  if (rv == CKR_OK) initialized = 1;
  return rv;
}

static CK_RV shim_Finalize(void *pReserved) {
  CK_RV rv = target->C_Finalize(pReserved);
  if (rv == CKR_OK) initialized = 0;
  return rv;
}

static CK_RV shim_GetInfo(CK_INFO *pInfo) {
  CK_RV rv = target->C_GetInfo(pInfo);
  if (rv != CKR_OK) return rv;
  blank_pad(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "Safenet, Inc.");
  blank_pad(pInfo->libraryDescription, sizeof pInfo->libraryDescription, "Chrystoki (byok test shim)");
  return CKR_OK;
}

static CK_RV shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO *pInfo) {
  CK_RV rv = target->C_GetTokenInfo(slot, pInfo);
  if (rv != CKR_OK) return rv;
  /* The label stays as the test set it: tokens are found by label. */
  blank_pad(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "Safenet, Inc.");
  blank_pad(pInfo->model, sizeof pInfo->model, "Luna K7");
  return CKR_OK;
}

static CK_RV shim_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE *pList, CK_ULONG *pulCount) {
  if (pulCount == NULL) return CKR_ARGUMENTS_BAD;
  CK_ULONG n = 0;
  CK_RV rv = target->C_GetMechanismList(slot, NULL, &n);
  if (rv != CKR_OK) return rv;
  /* Room for the target's list plus the two mechanisms we add. */
  CK_MECHANISM_TYPE *all = calloc(n + 2, sizeof *all);
  if (all == NULL) return CKR_HOST_MEMORY;
  rv = target->C_GetMechanismList(slot, all, &n);
  if (rv != CKR_OK) {
    free(all);
    return rv;
  }
  int has_kwp = 0, has_oaep = 0, has_aes_gen = 0, has_one_step = 0;
  CK_ULONG count = 0;
  for (CK_ULONG i = 0; i < n; i++) {
    CK_MECHANISM_TYPE m = all[i];
    if (m == CKM_AES_KEY_WRAP_PAD) has_kwp = 1;
    if (m == CKM_RSA_PKCS_OAEP) has_oaep = 1;
    if (m == CKM_AES_KEY_GEN) has_aes_gen = 1;
    if (m == CKM_RSA_AES_KEY_WRAP) has_one_step = 1;
    if (m != CKM_AES_KEY_WRAP_PAD) all[count++] = m;
  }
  if (has_kwp) all[count++] = CKM_VENDOR_AES_KWP;
  if (has_kwp && has_oaep && has_aes_gen && !has_one_step) all[count++] = CKM_RSA_AES_KEY_WRAP;

  if (pList == NULL) {
    rv = CKR_OK;
  } else if (*pulCount < count) {
    rv = CKR_BUFFER_TOO_SMALL;
  } else {
    memcpy(pList, all, count * sizeof *all);
    rv = CKR_OK;
  }
  *pulCount = count;
  free(all);
  return rv;
}

static CK_RV shim_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *pInfo) {
  if (pInfo == NULL) return CKR_ARGUMENTS_BAD;
  switch (type) {
    case CKM_AES_KEY_WRAP_PAD:
      return CKR_MECHANISM_INVALID;
    case CKM_VENDOR_AES_KWP:
      return target->C_GetMechanismInfo(slot, CKM_AES_KEY_WRAP_PAD, pInfo);
    case CKM_RSA_AES_KEY_WRAP: {
      if (mechanism_offered_by_target(slot, CKM_RSA_AES_KEY_WRAP))
        return target->C_GetMechanismInfo(slot, type, pInfo);
      /* Ours: the RSA key sizes are those of the target's OAEP. */
      CK_RV rv = target->C_GetMechanismInfo(slot, CKM_RSA_PKCS_OAEP, pInfo);
      if (rv != CKR_OK) return rv;
      if (!mechanism_offered_by_target(slot, CKM_AES_KEY_WRAP_PAD) ||
          !mechanism_offered_by_target(slot, CKM_AES_KEY_GEN))
        return CKR_MECHANISM_INVALID;
      pInfo->flags = CKF_WRAP;
      return CKR_OK;
    }
    default:
      return target->C_GetMechanismInfo(slot, type, pInfo);
  }
}

/*
 * CKM_RSA_AES_KEY_WRAP from the target's primitives. The ephemeral AES key is a session object that is
 * destroyed on every path, as PKCS#11 requires of the one-step mechanism.
 */
static CK_RV one_step_wrap(CK_SESSION_HANDLE hSession, const CK_MECHANISM *pMechanism,
                           CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE *pWrappedKey,
                           CK_ULONG *pulWrappedKeyLen) {
  if (pulWrappedKeyLen == NULL) return CKR_ARGUMENTS_BAD;
  if (pMechanism->pParameter == NULL || pMechanism->ulParameterLen != sizeof(CK_RSA_AES_KEY_WRAP_PARAMS))
    return CKR_MECHANISM_PARAM_INVALID;
  const CK_RSA_AES_KEY_WRAP_PARAMS *params = pMechanism->pParameter;
  CK_ULONG bits = params->ulAESKeyBits;
  if ((bits != 128 && bits != 192 && bits != 256) || params->pOAEPParams == NULL)
    return CKR_MECHANISM_PARAM_INVALID;

  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE key_type = CKK_AES;
  CK_ULONG value_len = bits / 8;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_KEY_TYPE, &key_type, sizeof key_type},
      {CKA_VALUE_LEN, &value_len, sizeof value_len},
      {CKA_TOKEN, &no, sizeof no},             /* gone with the session even if we crash */
      {CKA_EXTRACTABLE, &yes, sizeof yes},     /* it must leave the HSM under the KEK */
      {CKA_SENSITIVE, &yes, sizeof yes},       /* but never in the clear */
      {CKA_WRAP, &yes, sizeof yes},            /* it wraps the target */
      {CKA_ENCRYPT, &no, sizeof no},
      {CKA_DECRYPT, &no, sizeof no},
      {CKA_UNWRAP, &no, sizeof no},
  };
  CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
  CK_OBJECT_HANDLE aes = 0;
  CK_RV rv = target->C_GenerateKey(hSession, &gen, tmpl, sizeof tmpl / sizeof tmpl[0], &aes);
  if (rv != CKR_OK) return rv;

  CK_BYTE *oaep_out = NULL, *kwp_out = NULL;
  CK_ULONG oaep_len = 0, kwp_len = 0;
  CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, params->pOAEPParams, sizeof(CK_RSA_PKCS_OAEP_PARAMS)};
  CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};

  rv = target->C_WrapKey(hSession, &oaep, hWrappingKey, aes, NULL, &oaep_len);
  if (rv != CKR_OK) goto done;
  if ((oaep_out = malloc(oaep_len ? oaep_len : 1)) == NULL) {
    rv = CKR_HOST_MEMORY;
    goto done;
  }
  rv = target->C_WrapKey(hSession, &oaep, hWrappingKey, aes, oaep_out, &oaep_len);
  if (rv != CKR_OK) goto done;

  rv = target->C_WrapKey(hSession, &kwp, aes, hKey, NULL, &kwp_len);
  if (rv != CKR_OK) goto done;
  if ((kwp_out = malloc(kwp_len ? kwp_len : 1)) == NULL) {
    rv = CKR_HOST_MEMORY;
    goto done;
  }
  rv = target->C_WrapKey(hSession, &kwp, aes, hKey, kwp_out, &kwp_len);
  if (rv != CKR_OK) goto done;

  CK_ULONG total = oaep_len + kwp_len;
  if (pWrappedKey == NULL) {
    rv = CKR_OK;
  } else if (*pulWrappedKeyLen < total) {
    rv = CKR_BUFFER_TOO_SMALL;
  } else {
    memcpy(pWrappedKey, oaep_out, oaep_len);
    memcpy(pWrappedKey + oaep_len, kwp_out, kwp_len);
    rv = CKR_OK;
  }
  *pulWrappedKeyLen = total;

done: {
  CK_RV destroy_rv = target->C_DestroyObject(hSession, aes);
  if (rv == CKR_OK && destroy_rv != CKR_OK) rv = destroy_rv;
}
  free(oaep_out);
  free(kwp_out);
  return rv;
}

static CK_RV shim_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE hWrappingKey,
                          CK_OBJECT_HANDLE hKey, CK_BYTE *pWrappedKey, CK_ULONG *pulWrappedKeyLen) {
  if (pMechanism == NULL)
    return target->C_WrapKey(hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen);
  switch (pMechanism->mechanism) {
    case CKM_AES_KEY_WRAP_PAD:
      return CKR_MECHANISM_INVALID;
    case CKM_VENDOR_AES_KWP: {
      CK_MECHANISM forwarded = *pMechanism;
      forwarded.mechanism = CKM_AES_KEY_WRAP_PAD;
      return target->C_WrapKey(hSession, &forwarded, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen);
    }
    case CKM_RSA_AES_KEY_WRAP:
      return one_step_wrap(hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen);
    default:
      return target->C_WrapKey(hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen);
  }
}

static CK_RV shim_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE hUnwrappingKey,
                            CK_BYTE *pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE *pTemplate,
                            CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE *phKey) {
  if (pMechanism != NULL && pMechanism->mechanism == CKM_AES_KEY_WRAP_PAD) return CKR_MECHANISM_INVALID;
  if (pMechanism != NULL && pMechanism->mechanism == CKM_VENDOR_AES_KWP) {
    CK_MECHANISM forwarded = *pMechanism;
    forwarded.mechanism = CKM_AES_KEY_WRAP_PAD;
    return target->C_UnwrapKey(hSession, &forwarded, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate,
                               ulAttributeCount, phKey);
  }
  return target->C_UnwrapKey(hSession, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate,
                             ulAttributeCount, phKey);
}

/* ---- loading ---------------------------------------------------------------------------------- */

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST **ppFunctionList);

static void load_target(void) {
  const char *path = getenv("LUNA_SHIM_TARGET");
  void *handle = NULL;
  if (path != NULL && path[0] != '\0') {
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  } else {
    for (size_t i = 0; i < sizeof DEFAULT_TARGETS / sizeof DEFAULT_TARGETS[0] && handle == NULL; i++) {
      path = DEFAULT_TARGETS[i];
      handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    }
  }
  if (handle == NULL) {
    fprintf(stderr, "luna-shim: cannot load target module %s: %s\n", path, dlerror());
    return;
  }
  CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
  if (get_list == NULL) {
    fprintf(stderr, "luna-shim: %s has no C_GetFunctionList\n", path);
    return;
  }
  CK_RV rv = get_list(&target);
  if (rv != CKR_OK || target == NULL) {
    fprintf(stderr, "luna-shim: C_GetFunctionList of %s failed: 0x%08lX\n", path, rv);
    load_rv = rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
    return;
  }
  shim_list = *target;
  shim_list.C_Initialize = shim_Initialize;
  shim_list.C_Finalize = shim_Finalize;
  shim_list.C_GetInfo = shim_GetInfo;
  shim_list.C_GetFunctionList = C_GetFunctionList;
  shim_list.C_GetTokenInfo = shim_GetTokenInfo;
  shim_list.C_GetMechanismList = shim_GetMechanismList;
  shim_list.C_GetMechanismInfo = shim_GetMechanismInfo;
  shim_list.C_WrapKey = shim_WrapKey;
  shim_list.C_UnwrapKey = shim_UnwrapKey;
  load_rv = CKR_OK;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST **ppFunctionList) {
  if (ppFunctionList == NULL) return CKR_ARGUMENTS_BAD;
  pthread_once(&load_once, load_target);
  if (load_rv != CKR_OK) return load_rv;
  *ppFunctionList = &shim_list;
  return CKR_OK;
}

/* ---- Luna extensions -------------------------------------------------------------------------- */

/* While the module is initialised, refuse slots the target does not have, as a Luna would. */
static CK_RV check_slot(CK_SLOT_ID slot) {
  pthread_once(&load_once, load_target);
  if (load_rv != CKR_OK || !initialized) return CKR_OK;
  /* CK_SLOT_INFO is 112 bytes on LP64; the buffer is generously sized and aligned. */
  CK_ULONG slot_info[64];
  CK_RV rv = target->C_GetSlotInfo(slot, slot_info);
  return rv == CKR_SLOT_ID_INVALID ? rv : CKR_OK;
}

EXPORT CK_RV CA_GetUserContainerNumber(CK_SLOT_ID slot, CK_ULONG *pulContainerNumber) {
  if (pulContainerNumber == NULL) return CKR_ARGUMENTS_BAD;
  CK_RV rv = check_slot(slot);
  if (rv != CKR_OK) return rv;
  *pulContainerNumber = 0;
  return CKR_OK;
}

/* A partition as shipped for key export: private and secret key wrapping on, cloning off. */
static CK_ULONG default_policy(CK_ULONG id) {
  switch (id) {
    case 0: return 0;  /* private key cloning */
    case 1: return 1;  /* private key wrapping */
    case 5: return 1;  /* secret key wrapping */
    case 10: return 1; /* multipurpose keys */
    case 34: return 1; /* CBC-PAD (un)wrap keys of any size */
    default: return 0;
  }
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  char *end = s + strlen(s);
  while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n')) *--end = '\0';
  return s;
}

static int parse_ulong(const char *text, CK_ULONG *out) {
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(text, &end, 0);
  if (errno != 0 || end == text || *trim(end) != '\0' || text[0] == '-') return 0;
  *out = v;
  return 1;
}

/*
 * The file is the whole truth: an id it does not list is an error (CKR_ARGUMENTS_BAD), so a test can
 * also exercise "policy unknown". Only an unset variable or a missing file falls back to defaults.
 */
static CK_RV policy_from_file(const char *path, CK_ULONG id, CK_ULONG *value) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    if (errno == ENOENT) {
      *value = default_policy(id);
      return CKR_OK;
    }
    fprintf(stderr, "luna-shim: cannot read policy file %s: %s\n", path, strerror(errno));
    return CKR_GENERAL_ERROR;
  }
  char line[512];
  int found = 0, line_no = 0;
  CK_RV rv = CKR_OK;
  while (fgets(line, sizeof line, f) != NULL) {
    line_no++;
    char *hash = strchr(line, '#');
    if (hash != NULL) *hash = '\0';
    char *text = trim(line);
    if (*text == '\0') continue;
    char *eq = strchr(text, '=');
    CK_ULONG key = 0, val = 0;
    if (eq == NULL) {
      rv = CKR_GENERAL_ERROR;
    } else {
      *eq = '\0';
      if (!parse_ulong(trim(text), &key) || !parse_ulong(trim(eq + 1), &val)) rv = CKR_GENERAL_ERROR;
    }
    if (rv != CKR_OK) {
      fprintf(stderr, "luna-shim: %s:%d: expected `id=value`\n", path, line_no);
      break;
    }
    if (key == id) {
      *value = val; /* the last line for an id wins */
      found = 1;
    }
  }
  fclose(f);
  if (rv != CKR_OK) return rv;
  return found ? CKR_OK : CKR_ARGUMENTS_BAD;
}

EXPORT CK_RV CA_GetContainerPolicySetting(CK_SLOT_ID slot, CK_ULONG container, CK_ULONG policyId,
                                          CK_ULONG *pulValue) {
  if (pulValue == NULL) return CKR_ARGUMENTS_BAD;
  CK_RV rv = check_slot(slot);
  if (rv != CKR_OK) return rv;
  if (container != 0) return CKR_ARGUMENTS_BAD; /* CA_GetUserContainerNumber only ever hands out 0 */
  const char *path = getenv("LUNA_SHIM_POLICY_FILE");
  if (path == NULL || path[0] == '\0') {
    *pulValue = default_policy(policyId);
    return CKR_OK;
  }
  return policy_from_file(path, policyId, pulValue);
}
