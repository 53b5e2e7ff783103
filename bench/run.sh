#!/usr/bin/env bash
# Runs every benchmark after a build. Figures only: nothing here fails on a number.
source "$(dirname "$0")/../scripts/lib.sh"
cd "$REPO_ROOT"
[ "${SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
node bench/hsmbyok.mjs "$@"
node bench/clouds.mjs "$@"
