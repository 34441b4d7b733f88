"""`--version` and `--help` of the installed commands: what a user reads before anything runs."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT

BIN = Path(sys.executable).parent


def command(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script as installed (`.venv/bin/inspector`), in a terminal 100 wide."""
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("program", ["inspector", "inspect-proxy"])
def test_the_version_is_the_installed_packages(program: str) -> None:
    result = command(program, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{program} {importlib.metadata.version('inspector')}\n"


@pytest.mark.parametrize(
    ("args", "described", "shown"),
    [
        (
            ["inspector"],
            "See what crosses the WSGI/ASGI boundary",
            ["inspector run -- uvicorn myapp:app", "--version"],
        ),
        (
            ["inspector", "listen"],
            "Collect the events of every process wrapped",
            [
                "inspector listen --no-tui --save s.jsonl",
                "(default: $INSPECTOR_BUS, else unix:",
                "(default: $INSPECTOR_TOKEN)",
                "(default: 64)",
                "(default: 100,000)",
            ],
        ),
        (
            ["inspector", "open"],
            "Reopen a session saved with --save",
            ["inspector open s.jsonl --no-tui", "FILE a session file written by --save"],
        ),
        (
            ["inspector", "export"],
            "Write the exchanges of a saved session as HAR 1.2",
            [
                "inspector export s.jsonl --har s.har --curl s.sh",
                "FILE a session file written by --save",
                "--no-redact",
            ],
        ),
        (
            ["inspector", "replay"],
            "Replay one exchange of a saved session",
            ["inspector replay s.jsonl --id 9a8b7c6d5e4f-3", "(default: the captured URL)"],
        ),
        (
            ["inspector", "demo"],
            "A small Starlette app",
            ["inspector demo --port 9000", "(default: 8080)", "(default: 0.7)", "(default: both)"],
        ),
        (
            ["inspector", "run"],
            "Run a Python web server command with capture in every process",
            ["inspector run -- gunicorn -w 4 myproject.wsgi", "the server command"],
        ),
        (
            ["inspect-proxy"],
            "A reverse proxy that shows every exchange crossing it",
            [
                "inspect-proxy --upstream :8000",
                "(default: 127.0.0.1:8080)",
                "(default: 1 MiB)",
                "(default: 60 s)",
                "(default: 75 s)",
                "(default: 2048)",
            ],
        ),
    ],
)
def test_help_describes_shows_examples_and_defaults(
    args: list[str], described: str, shown: list[str]
) -> None:
    result = command(*args, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # as if argparse had not wrapped the lines
    assert described in text
    assert "examples:" in result.stdout
    for what in shown:
        assert what in text, what
    # Unset options and flags that are off say nothing of a default: no noise.
    assert "(default: None)" not in text
    assert "(default: False)" not in text


def test_help_never_shows_the_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "inspector"), "listen", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"INSPECTOR_TOKEN": "s3cret", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout
    assert re.search(r"--token TOKEN +peers must present it", result.stdout)
