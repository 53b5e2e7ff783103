#!/usr/bin/env bash
# The ceremony's embedded default, end to end, in one command:
#   setup -> Temporal dev server (SQLite under .data/) -> Key Vault + KMS emulators -> SoftHSM token -> worker
#   -> 3 approver key pairs -> a 2-of-3 ceremony importing an RSA-2048 key into the Key Vault emulator
#   -> 2 approvals -> evidence summary.
# Everything it starts is stopped on exit (trap), whatever happens. Re-runnable: each run is a new ceremony.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

[ "${SKIP_SETUP:-${BYOK_SKIP_SETUP:-0}}" = 1 ] || bash scripts/setup.sh
DATA="$REPO_ROOT/.data/ceremony-demo"
RUN="demo-$(date -u +%Y%m%d-%H%M%S)"
WORK="$DATA/runs/$RUN"
mkdir -p "$WORK" "$DATA/temporal"
chmod 700 "$WORK"

PIDS=()
cleanup() {
  local status=$?
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
    wait "${PIDS[i]}" 2>/dev/null || true
  done
  [ $status -eq 0 ] || printf 'demo failed; logs in %s\n' "$WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for FILE PATTERN SECONDS
  for _ in $(seq 1 $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "timed out waiting for '$2' in $1: $(tail -5 "$1" 2>/dev/null)"
}

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

TEMPORAL_PORT=$(free_port)
say "Temporal dev server on 127.0.0.1:$TEMPORAL_PORT (SQLite: .data/ceremony-demo/temporal/dev.db)"
node infra/temporal/dist/cli.js --db "$DATA/temporal/dev.db" --port "$TEMPORAL_PORT" --headless \
  >"$WORK/temporal.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/temporal.log" 'temporal dev server:' 60

say "Key Vault and KMS emulators (state: $WORK/emulators)"
node infra/emulators/dist/cli.js start --state "$WORK/emulators" --kv-port 0 --kms-port 0 >"$WORK/emulators.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/emulators.log" '"keyvault"' 60
EMU_JSON=$(grep '"keyvault"' "$WORK/emulators.log" | head -1)
emu() { node -e "const j=JSON.parse(process.argv[1]);console.log($1)" "$EMU_JSON"; }
KV_URL=$(emu j.keyvault.url)

say "SoftHSM token 'ceremony' (PIN generated into a 0600 file, never printed)"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
mkdir -p "$WORK/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK/tokens" >"$SOFTHSM2_CONF"
umask 077
openssl rand -hex 8 >"$WORK/hsm.pin"
openssl rand -base64 32 >"$WORK/codec.key"
emu j.keyvault.token >"$WORK/kv.token"
umask 022
softhsm2-util --init-token --free --label ceremony --pin "$(cat "$WORK/hsm.pin")" --so-pin "$(openssl rand -hex 8)" >/dev/null
SOFTHSM_LIB=$(node -e "for (const p of ['/usr/lib/softhsm/libsofthsm2.so','/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so','/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so','/usr/local/lib/softhsm/libsofthsm2.so']) if (require('fs').existsSync(p)) { console.log(p); break }")

cat >"$WORK/worker.yaml" <<YAML
temporal: { address: '127.0.0.1:$TEMPORAL_PORT', namespace: default, taskQueue: byok-ceremonies }
codec: { keys: [{ id: demo, file: codec.key }] }
evidenceDir: evidence
hsmProfiles:
  softhsm: { library: '$SOFTHSM_LIB', tokenLabel: ceremony, pin: { file: hsm.pin }, oaepHashes: [sha1] }
clouds:
  azure:
    - { vaultUrl: '$KV_URL', caFile: '$(emu j.keyvault.caCertPath)', token: { file: kv.token }, disableChallengeResourceVerification: true }
  aws:
    - region: $(emu j.kms.region)
      endpoint: '$(emu j.kms.endpoint)'
YAML
export BYOK_WORKER_CONFIG="$WORK/worker.yaml"

say "worker (JSON logs: $WORK/worker.log)"
node apps/worker/dist/main.js >"$WORK/worker.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/worker.log" '"msg":"worker.started"' 90

ceremony() { node apps/worker/dist/cli/main.js "$@"; }
say "3 approver key pairs: alice, bob, dave"
for who in alice bob dave; do ceremony keygen --out "$WORK/$who" >/dev/null; done
pem() { sed 's/^/        /' "$WORK/$1.pub"; }
cat >"$WORK/ceremony.yaml" <<YAML
version: 1
id: $RUN
requester: carol
description: Embedded-default demo - RSA-2048 from SoftHSM into the Key Vault emulator, 2 of 3
key: { spec: 'CKK_RSA, 2048, none' }
hsm: { profile: softhsm, keyLabel: $RUN, createIfMissing: true }
target:
  azure: { vaultUrl: '$KV_URL', keyName: $RUN, keyOps: [sign, verify], kek: { bits: 2048 } }
quorum:
  required: 2
  window: 1h
  vetoOnReject: true
  approvers:
    - id: alice
      role: security-officer
      publicKey: |
$(pem alice)
    - id: bob
      role: key-custodian
      publicKey: |
$(pem bob)
    - id: dave
      role: key-custodian
      publicKey: |
$(pem dave)
deadlines: { overall: 2h }
YAML

say "ceremony start ($WORK/ceremony.yaml)"
ceremony start "$WORK/ceremony.yaml"
for who in alice bob; do
  say "ceremony approve $RUN --approver $who"
  for _ in $(seq 1 50); do
    ceremony status "$RUN" --output json 2>/dev/null | grep -q '"status": "awaiting-approvals"' && break
    sleep 0.2
  done
  ceremony approve "$RUN" --approver "$who" --key "$WORK/$who.key"
done
say "waiting for the ceremony to finish"
ceremony status "$RUN" --wait
mkdir -p "$WORK/export"
say "evidence"
ceremony evidence "$RUN" --out "$WORK/export"
echo
say "evidence summary"
node -e '
const a = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const show = { "step.prepare-import": ["kekId", "kekSha256"], "step.wrap": ["wrap", "publicKeySpkiSha256"],
  "step.import": ["cloudKeyId", "publicKeyFingerprint"], "step.verify": ["checks"], "step.cleanup": ["deleted"] };
for (const e of a.events) {
  if (e.type.startsWith("approval.")) console.log(`  ${e.time}  ${e.actor}  ${e.type}`);
  for (const k of show[e.type] ?? []) console.log(`  ${e.time}  ${e.type}  ${k}: ${[].concat(e.data[k] ?? []).join("; ")}`);
}' "$WORK/export/$RUN.audit.json"
echo "evidence written by the worker: $WORK/evidence/$RUN/ (audit.json, audit.md)"
echo "ceremony list:"
ceremony list --cloud azure | tail -5
ceremony status "$RUN" --output json | grep -q '"status": "completed"' || die "the ceremony did not complete"
