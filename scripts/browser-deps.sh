#!/usr/bin/env bash
# What the playground's real-browser test (tests/playground) needs: Debian's Chromium and
# its chromedriver (apt), and Selenium in ./.venv (pip). Idempotent: it installs only what
# is missing, so a second run costs a second. .ci/run calls it before ./scripts/test.sh.
# Nothing is downloaded but Debian packages and the selenium wheel: the test points
# Selenium at /usr/bin/chromium and /usr/bin/chromedriver (no browser or driver download).
# Without apt-get it says so and the browser test skips, naming this script.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() {
      $SUDO apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver fonts-dejavu-core >/dev/null
    }
    # Package lists may be fresh already (.ci/run updates them); update only if needed.
    apt_install 2>/dev/null || { $SUDO apt-get update -qq && apt_install; }
  else
    echo "browser-deps: no apt-get here; install Chromium and chromedriver by hand" \
      "(the playground browser test skips without them)" >&2
  fi
fi

# Selenium goes into the project's venv (made here if this runs before install.sh does;
# install.sh then reuses it).
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
if ! .venv/bin/python -c 'import selenium' >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q 'selenium>=4.20'
fi

chromium_version="$(/usr/bin/chromium --version 2>/dev/null || echo 'no chromium')"
selenium_version="$(.venv/bin/python -c 'import selenium; print(selenium.__version__)')"
echo "browser-deps: ${chromium_version}, selenium ${selenium_version}"
