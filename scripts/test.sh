#!/usr/bin/env bash
# Tessera's test command: prepares the independent peers in .venv (PyJWT for interop,
# openapi-spec-validator for the OpenAPI document, Schemathesis for the API fuzzer), a PostgreSQL
# database for the storage backend tests and Redis for the shared-state tests, then runs every
# test in the workspace (unit, integration, vectors, properties, CLI, interop, the API fuzzer,
# two-instance scale-out, the pages in Chromium, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# The peers, each at the version the tests are written for (the tests name the same pins in
# their failure messages). Installed when .venv lacks one or has another version.
PEERS=('pyjwt[crypto]==2.15.1' 'openapi-spec-validator==0.9.0' 'schemathesis==4.32.5' 'flask==3.1.3'
  'fastapi==0.165.0' 'uvicorn==0.55.0')
peers_installed() {
  .venv/bin/python - "${PEERS[@]}" 2>/dev/null <<'PYTHON'
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    if version(name.split("[")[0]) != wanted:
        sys.exit(1)
import cryptography, fastapi, flask, jwt, openapi_spec_validator, schemathesis, uvicorn
PYTHON
}
if ! peers_installed; then
  if ! python3 -m venv .venv 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check "${PEERS[@]}"
fi
export TESSERA_TEST_PYTHON="$PWD/.venv/bin/python"

# Node for the Express example (examples/node-express, its packages pinned by package-lock.json).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d examples/node-express/node_modules ] \
  || [ examples/node-express/package-lock.json -nt examples/node-express/node_modules ]; then
  npm ci --prefix examples/node-express --no-audit --no-fund --silent
fi

# The browser tests (tests/browser): Debian's Chromium, driven by Playwright (`playwright-core`,
# pinned by tests/browser/package-lock.json; it downloads no browser).
if [ ! -x /usr/bin/chromium ] && [ -z "${TESSERA_TEST_CHROMIUM:-}" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d tests/browser/node_modules ] \
  || [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then
  npm ci --prefix tests/browser --no-audit --no-fund --silent
fi

# nginx for the forward-auth example (examples/nginx-forward-auth): Debian's package, whose
# default site the test does not use (it runs its own instance on free ports); if the package
# starts one on port 80, it is stopped.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  /usr/sbin/nginx -s quit 2>/dev/null || true
fi

# PostgreSQL and Redis for the storage, shared-state and two-instance tests: a caller that sets
# TESSERA_TEST_DATABASE_URL and TESSERA_TEST_REDIS_URL brings its own; otherwise
# scripts/services.sh starts (or installs) the local ones and makes a fresh database for this run.
. scripts/services.sh

cargo test --locked --workspace "$@"
