#!/usr/bin/env bash
# The quality gates and the whole test suite: ruff, mypy on our packages, pytest (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
