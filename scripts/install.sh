#!/usr/bin/env bash
# Install Parley into ./.venv (Python 3.11+). Usage: ./scripts/install.sh [dev]
# PYTHON=python3.12 ./scripts/install.sh picks the interpreter (default: python3); it
# must be 3.11 or newer with its venv module (Debian/Ubuntu: python3.11-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
APT_HINT="on Debian/Ubuntu: sudo apt-get install python3.11 python3.11-venv, then"
APT_HINT="$APT_HINT PYTHON=python3.11 ./scripts/install.sh"
if [ ! -x .venv/bin/python ]; then
  if ! command -v "$PY" >/dev/null 2>&1; then
    echo "install.sh: no '$PY' here; Parley needs Python 3.11+ ($APT_HINT)" >&2
    exit 1
  fi
  version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install.sh: '$PY' is Python $version; Parley needs 3.11+ ($APT_HINT)" >&2
    exit 1
  fi
  if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "install.sh: '$PY' (Python $version) cannot make a venv;" \
      "on Debian/Ubuntu: sudo apt-get install python$version-venv" >&2
    exit 1
  fi
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# The distribution was called "parley" before it became parley-voice: a venv made then
# still holds that (editable) install and src/ its build metadata; drop both so only one
# distribution owns `parley`.
rm -rf src/parley.egg-info
if .venv/bin/python -m pip show -q parley >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall -q -y parley
fi
if [ "${1:-}" = "dev" ]; then
  .venv/bin/python -m pip install -q -e '.[dev]'
else
  .venv/bin/python -m pip install -q -e .
fi
# The Silero VAD and Smart Turn v3 ONNX models ship inside the pipecat-ai wheel; we only
# read those files, so its own (heavy) dependencies are not needed.
.venv/bin/python -m pip install -q --no-deps 'pipecat-ai>=0.0.80'
echo "Parley installed in .venv"
