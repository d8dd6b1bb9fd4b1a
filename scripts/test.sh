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
.venv/bin/python -m pytest "$@"
