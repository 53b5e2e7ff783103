#!/usr/bin/env bash
# The main job on the embedded defaults: a SoftHSM token under .data/demo, a KEK standing in for the
# cloud's, and `hsmbyok --generate-and-wrap-target-key` run exactly as a custodian's runbook runs it.
# Ends by proving the .byok blob: unwrap with the KEK's private key, compare with the HSM's public key.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
[ "${SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh

DEMO="$REPO_ROOT/.data/demo"
rm -rf "$DEMO" && mkdir -p "$DEMO/tokens" "$DEMO/ceremony"
SOFTHSM_LIB=$(for p in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do [ -f "$p" ] && echo "$p" && break; done)
[ -n "$SOFTHSM_LIB" ] || die "libsofthsm2.so not found: run scripts/setup.sh"
export SOFTHSM2_CONF="$DEMO/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$DEMO/tokens" >"$SOFTHSM2_CONF"

# A random PIN in a 0600 file: the demo shows --pin-file, the way automation should feed it.
umask 077
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DEMO/pin"
say "creating SoftHSM token 'byok-demo' in $DEMO/tokens"
softhsm2-util --init-token --free --label byok-demo --pin "$(cat "$DEMO/pin")" --so-pin "$(cat "$DEMO/pin")" >/dev/null

say "creating a KEK pair (stands in for the cloud's key-exchange key; the next release asks the Key Vault emulator)"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$DEMO/kek-private.pem" 2>/dev/null
openssl pkey -in "$DEMO/kek-private.pem" -pubout -out "$DEMO/ceremony/kekBlob.pem"

cat >"$DEMO/ceremony/HsmConfig.ini" <<INI
; HsmConfig.ini exactly as Thales' hsmbyok reads it
[byok]
libraryName = "$SOFTHSM_LIB"
tokenLabel = "byok-demo"
wrappingCiphers = CKM_AES_KWP, CKG_MGF1_SHA1
SchemaVersion = "1.0.0"
kid = "https://demo-vault.vault.azure.net/keys/byok-kek/0123456789abcdef0123456789abcdef"
targetKeyName = "demo-rsa-2048"
targetKeySpec = CKK_RSA, 2048, none
targetKeyFlags = CKF_EXTRACTABLE, CKF_TOKEN, CKF_SIGN, CKF_VERIFY, CKF_CREATE_IF_NOT_FOUND
INI

say "running: hsmbyok --generate-and-wrap-target-key --pin-file $DEMO/pin   (in $DEMO/ceremony)"
(cd "$DEMO/ceremony" && node "$REPO_ROOT/apps/hsmbyok/bin/hsmbyok.js" --generate-and-wrap-target-key --pin-file "$DEMO/pin")

BLOB="$DEMO/ceremony/targetBlob.byok"
say "wrote $BLOB:"
cat "$BLOB"; echo
say "proving the blob: unwrap with the KEK private key and compare with the public key the HSM holds"
node "$REPO_ROOT/scripts/prove-byok.mjs" "$BLOB" "$DEMO/kek-private.pem" "$SOFTHSM_LIB" byok-demo demo-rsa-2048 "$DEMO/pin"
