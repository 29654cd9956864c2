#!/usr/bin/env bash
# Tessera's test command: prepares the independent peers in .venv (PyJWT for interop,
# openapi-spec-validator for the OpenAPI document), a PostgreSQL database for the storage
# backend tests and Redis for the shared-state tests, then runs every test in the workspace
# (unit, integration, vectors, properties, CLI, interop, two-instance scale-out, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .venv/bin/python -c 'import jwt, cryptography, openapi_spec_validator' 2>/dev/null; then
  if ! python3 -m venv .venv 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check 'pyjwt[crypto]==2.15.1' 'openapi-spec-validator==0.9.0'
fi
export TESSERA_TEST_PYTHON="$PWD/.venv/bin/python"

# PostgreSQL and Redis for the storage, shared-state and two-instance tests: a caller that sets
# TESSERA_TEST_DATABASE_URL and TESSERA_TEST_REDIS_URL brings its own; otherwise
# scripts/services.sh starts (or installs) the local ones and makes a fresh database for this run.
. scripts/services.sh

cargo test --locked --workspace "$@"
