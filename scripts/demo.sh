#!/usr/bin/env bash
# The main job on a built-in default: sets up .venv, then runs the demo (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/inspector demo "$@"
