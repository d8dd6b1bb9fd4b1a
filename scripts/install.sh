#!/usr/bin/env bash
# Install Parley into ./.venv (Python 3.11+). Usage: ./scripts/install.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
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
