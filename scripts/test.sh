#!/usr/bin/env bash
# Install Parley with its test tools and run the whole suite (lint and type-check included).
# PostgreSQL tests run when Debian's postgresql is installed (apt-get install postgresql):
# a throwaway cluster on 127.0.0.1:55432 (PARLEY_TEST_PG_PORT) is started for them and
# stopped at the end; one that was already running is reused and left running.
# The playground's browser tests need Chromium: ./scripts/browser-deps.sh (else they skip).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh dev
if [ -z "${PARLEY_TEST_POSTGRES_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if ./scripts/start-test-postgres.sh status; then
    echo "test.sh: reusing the test PostgreSQL already running (left running;" \
      "./scripts/start-test-postgres.sh stop stops it)" >&2
  else
    trap './scripts/start-test-postgres.sh stop' EXIT
  fi
  PARLEY_TEST_POSTGRES_URL="$(./scripts/start-test-postgres.sh)"
  export PARLEY_TEST_POSTGRES_URL
fi
# Two workers (pytest-xdist): most of the suite waits on sockets and real-time audio, so two
# share 2 cores well; tests/conftest.py keeps each module on one worker and runs the
# real-time ones one at a time. PARLEY_TEST_WORKERS=0 runs everything in this process.
.venv/bin/python -m pytest -n "${PARLEY_TEST_WORKERS:-2}" --dist loadgroup "$@"
