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
say "building"
pnpm turbo run build --output-logs=errors-only >/dev/null
say "setup done"
