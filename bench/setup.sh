#!/usr/bin/env bash
# What the benchmarks compare against, each in its own place: wrk, nginx and tmux from Debian,
# mitmproxy from PyPI in bench/.venv-mitm (never in the project's .venv). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v wrk > /dev/null || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v tmux > /dev/null || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
fi
if [ ! -x bench/.venv-mitm/bin/mitmdump ]; then
    python3 -m venv bench/.venv-mitm
    bench/.venv-mitm/bin/python -m pip install --quiet --disable-pip-version-check mitmproxy
fi
[ -x .venv/bin/python ] || bash scripts/test.sh --collect-only -q > /dev/null
echo "ready: .venv/bin/python bench/app.py | bench/proxy.py  (--quick: a smoke run)"
