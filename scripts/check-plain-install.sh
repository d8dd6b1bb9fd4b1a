#!/usr/bin/env bash
# A plain `pip install .` (no script, no extras, no editable install) in a fresh venv gives
# a server that starts on its embedded defaults: Whisper STT, the Piper voice, Silero and
# Smart Turn, every model file checked. Run by .ci/run; slow (a fresh venv: ~1-3 min).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
TMP="$(mktemp -d /tmp/parley-plain-install.XXXXXX)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$TMP/venv/bin/python" -m pip install -q . 2>&1 | grep -v "^WARNING: Location" || true
cd "$TMP"   # not the source tree: the installed package, and its data files, must do
export PARLEY_DATA_DIR="$TMP/data" PARLEY_API_KEY="plain-install-key-0123456789"
for v in $(env | grep -o '^PARLEY_[A-Z_]*' | grep -v -e PARLEY_DATA_DIR -e PARLEY_API_KEY); do unset "$v"; done
"$TMP/venv/bin/parley" doctor > "$TMP/doctor.txt" || true  # exits 1: no LLM configured
cat "$TMP/doctor.txt"
for model in silero_vad smart_turn whisper_tiny_en piper_en_us_joe; do
  grep -q "✓ $model: .*SHA-256 checked" "$TMP/doctor.txt" || { echo "doctor: $model not checked"; exit 1; }
done
grep -q "✓ stt: faster-whisper (streaming), model tiny.en" "$TMP/doctor.txt"
PORT="$("$TMP/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$TMP/venv/bin/parley" serve --host 127.0.0.1 --port "$PORT" >"$TMP/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$TMP/serve.log"; exit 1; }
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$TMP/serve.log"; exit 1; }
created="$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/conversations/create" \
  -H "Authorization: Bearer $PARLEY_API_KEY" -H "Content-Type: application/json" \
  -d '{"voice_id": "piper-en-us-joe", "system_prompt": "Hi."}')"
echo "$created" | grep -q '"voice_id":"piper-en-us-joe"' || { echo "$created"; exit 1; }
echo "plain pip install: the server starts on its embedded models"
