"""`inspector demo` end to end: real uvicorn behind the real proxy, real traffic, both capture
points (the proxy and the ASGI middleware) reporting every exchange to the headless log."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

FAST = ["--pause", "0.05", "--duration", "6"]


def test_demo_captures_every_kind_of_traffic_at_both_hops() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui",
            "demo",
            "--no-tui",
            "--port",
            "0",
            "--pause",
            "0.05",
            "--duration",
            "6",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout
    assert re.search(r"demo app on http://127\.0\.0\.1:\d+ behind inspect-proxy on http://", out)
    expected = {
        "/api/items?page=": r"GET +200 ",
        "/form": r"POST +201 ",
        "/slow": r"GET +200 ",
        "/events": r"GET +200 ",
        "/ws": r"GET +101 ",
    }
    for source in ("proxy", "asgi"):
        for path, pattern in expected.items():
            line = rf"{source} +{pattern}.*{re.escape(path)}"
            assert re.search(line, out), f"{source} {path} missing:\n{out}"
    # The app raised: the middleware saw the exception, the proxy saw Starlette's 500.
    assert re.search(r"asgi +GET +ERR .*/error .*RuntimeError: the demo app failed on purpose", out)
    assert re.search(r"proxy +GET +500 .*/error", out)
    assert "'echo: hello'" in out
    assert re.search(r"POST +201 .*↑ +1\d B .*/form", out)  # the form body, seen at both hops


# -- scripts/demo.sh, with stand-ins for python3, pip and the demo ------------------------------

PYTHON3 = """#!/bin/sh
echo "python3 $*" >> "$LOG"
[ "$1 $2" = "-m venv" ] || exit 1
mkdir -p "$3/bin"
cp "$STUBS/python" "$3/bin/python"
"""
VENV_PYTHON = """#!/bin/sh
echo "python $*" >> "$LOG"
[ -z "$PIP_FAILS" ] || exit 1
cp "$STUBS/inspector" .venv/bin/inspector
"""
INSPECTOR = """#!/bin/sh
echo "inspector $*" >> "$LOG"
"""
PIP = "python -m pip install --quiet --disable-pip-version-check -e ."


def test_demo_script_installs_the_package_alone_and_only_when_pyproject_changed(
    tmp_path: Path,
) -> None:
    repo, stubs, log = tmp_path / "repo", tmp_path / "stubs", tmp_path / "log"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "demo.sh", repo / "scripts")
    shutil.copy(ROOT / "pyproject.toml", repo)
    stubs.mkdir()
    for name, text in {"python3": PYTHON3, "python": VENV_PYTHON, "inspector": INSPECTOR}.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "LOG": str(log), "STUBS": str(stubs)}

    def demo(**extra: str) -> list[str]:
        log.write_text("")
        script = str(repo / "scripts" / "demo.sh")
        result = subprocess.run(
            ["bash", script, "--no-tui"], cwd=tmp_path, env={**env, **extra}, timeout=60
        )
        return [str(result.returncode), *log.read_text().splitlines()]

    # A fresh machine: .venv is made, the package installed (no test extras), the demo run.
    assert demo() == ["0", "python3 -m venv .venv", PIP, "inspector demo --no-tui"]
    assert demo() == ["0", "inspector demo --no-tui"]  # nothing changed: no pip at all
    with (repo / "pyproject.toml").open("a") as file:
        file.write("# a new dependency, say\n")
    assert demo(PIP_FAILS="1")[:2] == ["1", PIP]
    assert demo() == ["0", PIP, "inspector demo --no-tui"]  # a failed install is tried again
    assert demo() == ["0", "inspector demo --no-tui"]
    assert os.access(repo / ".venv" / "bin" / "inspector", os.X_OK)
