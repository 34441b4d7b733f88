#!/usr/bin/env bash
# The main job on a built-in default: sets up .venv, then runs the demo (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# The package alone (the demo needs no test extras), installed again only when pyproject.toml
# differs from the one last installed: the code is installed editable, so edits need nothing.
installed=.venv/installed-pyproject.toml
if ! cmp -s pyproject.toml "$installed" || [ ! -x .venv/bin/inspector ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
    cp pyproject.toml "$installed"
fi
exec .venv/bin/inspector demo "$@"
