#!/usr/bin/env bash
# Install Parley with its test tools and run the whole suite (lint and type-check included).
# PostgreSQL tests run when Debian's postgresql is installed (apt-get install postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh dev
if [ -z "${PARLEY_TEST_POSTGRES_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  PARLEY_TEST_POSTGRES_URL="$(./scripts/start-test-postgres.sh)"
  export PARLEY_TEST_POSTGRES_URL
fi
exec .venv/bin/python -m pytest "$@"
