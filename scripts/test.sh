#!/usr/bin/env bash
# Runs every package's tests and prints one summary line: `N passed, N failed`.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
[ "${SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
rm -rf packages/*/.reports apps/*/.reports infra/*/.reports
status=0
pnpm turbo run test --continue --concurrency=1 "$@" || status=$?
node scripts/summarize-tests.mjs || status=1
exit $status
