#!/usr/bin/env bash
# The one test command (README, CI): sets up .venv from nothing, then lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff format --check inspector tui tests bench
.venv/bin/ruff check inspector tui tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
