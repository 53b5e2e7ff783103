#!/usr/bin/env bash
# Installs the third-party AWS KMS emulator local-kms (Go module github.com/nsmithuk/local-kms) into a
# project-local, gitignored bin folder: <repo>/.data/bin/local-kms (override with LOCAL_KMS_BIN_DIR).
# Prints the binary's path. Idempotent: a binary of the pinned version is left alone.
#
# Why a pseudo-version: the module's go.mod says `module github.com/nsmithuk/local-kms` while its tags are
# v3.x, so `@v3.x.y` is not a valid version of that path. We pin the pseudo-version of the newest commit we
# could resolve (the repository's HEAD at the time of writing; `@latest` could not be listed through the
# module proxy reachable here, which answers 403 for the module's version list).
#
# Why the fallback: `go install mod@version` also reads the module's version list to report deprecation;
# where the proxy refuses that list (as here), `go mod download` + `go build` of the same pinned version
# installs the very same code.
set -euo pipefail

LOCAL_KMS_MODULE=github.com/nsmithuk/local-kms
LOCAL_KMS_VERSION=v0.0.0-20231025161602-e4d9425700fe

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BIN_DIR=${LOCAL_KMS_BIN_DIR:-$REPO_ROOT/.data/bin}
BIN=$BIN_DIR/local-kms
STAMP=$BIN_DIR/local-kms.version

if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$LOCAL_KMS_VERSION" ]; then
  echo "$BIN"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "error: 'go' is not installed; local-kms is built from source with Go (apt-get install golang-go, or go.dev/dl)" >&2
  exit 1
fi
mkdir -p "$BIN_DIR"
export GOFLAGS=-modcacherw
echo "installing $LOCAL_KMS_MODULE@$LOCAL_KMS_VERSION into $BIN_DIR" >&2
if ! GOBIN=$BIN_DIR go install "$LOCAL_KMS_MODULE@$LOCAL_KMS_VERSION" 2>/tmp/local-kms-install.$$; then
  echo "go install refused ($(tail -n1 /tmp/local-kms-install.$$)); building the same version from the module cache" >&2
  dir=$(go mod download -json "$LOCAL_KMS_MODULE@$LOCAL_KMS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "error: go mod download did not report a module directory" >&2; exit 1; }
  (cd "$dir" && go build -o "$BIN" .)
fi
rm -f /tmp/local-kms-install.$$
echo "$LOCAL_KMS_VERSION" >"$STAMP"
echo "$BIN"
