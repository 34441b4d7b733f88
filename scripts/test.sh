#!/usr/bin/env bash
# The one test command (README, CI): sets up .venv from nothing, then lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests run for real: nginx in front of the proxy, curl for exported
# commands, tmux for the viewer in a real terminal.
if [ ! -x /usr/sbin/nginx ] || ! command -v curl > /dev/null || ! command -v tmux > /dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx curl tmux > /dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff format --check inspector tui tests bench
.venv/bin/ruff check inspector tui tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
