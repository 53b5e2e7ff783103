#!/usr/bin/env bash
# The single-custodian runbook with the drop-in tool alone, end to end against the Key Vault emulator: a SoftHSM token under
# .data/demo, the Azure Key Vault emulator in the background, then the Azure BYOK runbook with hsmbyok only
# (no az, no openssl): `azure kek create` + `azure kek download`, the drop-in
# `hsmbyok --generate-and-wrap-target-key --pin-file` exactly as a custodian's runbook runs it, `azure import`,
# and `azure verify` proving that the vault now holds the HSM's key.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
[ "${SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh

DEMO="$REPO_ROOT/.data/demo"
rm -rf "$DEMO" && mkdir -p "$DEMO/tokens" "$DEMO/ceremony" "$DEMO/emulators"
SOFTHSM_LIB=$(for p in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do [ -f "$p" ] && echo "$p" && break; done)
[ -n "$SOFTHSM_LIB" ] || die "libsofthsm2.so not found: run scripts/setup.sh"
export SOFTHSM2_CONF="$DEMO/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$DEMO/tokens" >"$SOFTHSM2_CONF"
HSMBYOK=(node "$REPO_ROOT/apps/hsmbyok/bin/hsmbyok.cjs")

# A random PIN in a 0600 file: the demo shows --pin-file, the way automation should feed it.
umask 077
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DEMO/pin"
say "creating SoftHSM token 'byok-demo' in $DEMO/tokens"
softhsm2-util --init-token --free --label byok-demo --pin "$(cat "$DEMO/pin")" --so-pin "$(cat "$DEMO/pin")" >/dev/null

say "starting the Azure Key Vault emulator (state in $DEMO/emulators)"
node "$REPO_ROOT/infra/emulators/dist/cli.js" start --state "$DEMO/emulators" >"$DEMO/emulators.json" 2>"$DEMO/emulators.log" &
EMULATOR_PID=$!
trap 'kill "$EMULATOR_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$DEMO/emulators.json" ] && break; sleep 0.1; done
[ -s "$DEMO/emulators.json" ] || die "the emulator did not start: $(cat "$DEMO/emulators.log")"
emulator() { node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')).keyvault[process.argv[2]]))" "$DEMO/emulators.json" "$1"; }
VAULT=$(emulator url)
CA=$(emulator caCertPath)
# The emulator's bearer token; against Azure, DefaultAzureCredential is used instead (no variable needed).
export AZURE_ACCESS_TOKEN
AZURE_ACCESS_TOKEN=$(emulator token)
CLOUD=(--vault "$VAULT" --ca-file "$CA")
say "Key Vault emulator at $VAULT (its CA: $CA, trusted with --ca-file; certificate checks stay on)"

cd "$DEMO/ceremony"
say "running: hsmbyok azure kek create --name byok-kek --size 2048"
"${HSMBYOK[@]}" azure kek create "${CLOUD[@]}" --name byok-kek --size 2048 | tee "$DEMO/kek-create.txt"
KID=$(sed -n 's/^kid: //p' "$DEMO/kek-create.txt")

say "running: hsmbyok azure kek download --name byok-kek   (writes kekBlob.pem)"
"${HSMBYOK[@]}" azure kek download "${CLOUD[@]}" --name byok-kek

cat >HsmConfig.ini <<INI
; HsmConfig.ini exactly as Thales' hsmbyok reads it; kid is the one azure kek create printed
[byok]
libraryName = "$SOFTHSM_LIB"
tokenLabel = "byok-demo"
wrappingCiphers = CKM_AES_KWP, CKG_MGF1_SHA1
SchemaVersion = "1.0.0"
kid = "$KID"
targetKeyName = "demo-rsa-2048"
targetKeySpec = CKK_RSA, 2048, none
targetKeyFlags = CKF_EXTRACTABLE, CKF_TOKEN, CKF_SIGN, CKF_VERIFY, CKF_CREATE_IF_NOT_FOUND
INI

say "running: hsmbyok --generate-and-wrap-target-key --pin-file $DEMO/pin   (in $DEMO/ceremony, runbook unchanged)"
"${HSMBYOK[@]}" --generate-and-wrap-target-key --pin-file "$DEMO/pin"

BLOB="$DEMO/ceremony/targetBlob.byok"
say "wrote $BLOB:"
cat "$BLOB"; echo
node -e '
  const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const c = Buffer.from(b.ciphertext, "base64url");
  console.log(`it contains: the target key wrapped with ${b.header.enc} for KEK ${b.header.kid}:`);
  console.log(`  ${c.length} bytes = 256 bytes RSA-OAEP(SHA-1) of an ephemeral AES-256 key + ${c.length - 256} bytes ` +
    "AES-KWP (RFC 5649) of the RSA-2048 private key (PKCS#8); no plaintext key material");
  console.log(`  generator: ${b.generator}`);' "$BLOB"

say "running: hsmbyok azure import --name demo-cmk --kty RSA-HSM   (sends targetBlob.byok as key_hsm)"
"${HSMBYOK[@]}" azure import "${CLOUD[@]}" --name demo-cmk --kty RSA-HSM --ops sign,verify

say "proving it: hsmbyok azure verify compares the vault's public key with the HSM's and verifies a vault signature"
"${HSMBYOK[@]}" azure verify "${CLOUD[@]}" --name demo-cmk --pin-file "$DEMO/pin"
say "done: the vault key demo-cmk is the HSM key demo-rsa-2048; the whole flow in one command is"
say "  hsmbyok azure byok --vault URL --name KEYNAME --config HsmConfig.ini --pin-file FILE"
