#!/usr/bin/env bash
# Installs schemathesis (from PyPI) into a venv under ~/.cache/fleet-peers and prints the
# path of its command on the last line. tests/openapi_conformance.rs drives it against a
# running server to check openapi.yaml. Safe to run again: it only installs once.
set -euo pipefail
VENV="${HOME}/.cache/fleet-peers/schemathesis-venv"
BIN="$VENV/bin/schemathesis"
if [ ! -x "$BIN" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q 'schemathesis>=4,<5' >&2
fi
"$BIN" --version >&2
echo "$BIN"
