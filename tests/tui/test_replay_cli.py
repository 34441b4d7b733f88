"""`inspector replay` in a subprocess, on a session saved from real traffic: a WebSocket
conversation captured by the proxy from a real uvicorn + Starlette chat, and an HTTP request;
replayed against the same chat (same answer), a changed one (the differences printed, still
status 0), a port where nothing listens and an unknown id (status 1, one clear line)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.observe.session import SessionWriter
from tests.inspector.observe.test_replay_ws import CHAT, capture
from tests.servers import ROOT, Server, free_port, serve


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("uvicorn", CHAT, tmp_path_factory.mktemp("chat")) as server:
        yield server


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"CHAT_PREFIX": "ECHO> "}
    with serve("uvicorn", CHAT, tmp_path_factory.mktemp("changed"), env) as server:
        yield server


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tui", "replay", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


async def test_inspector_replay(chat: Server, changed: Server, tmp_path: Path) -> None:
    original = await capture(chat, "/ws/chat", ["hello"], "deflate")
    session = tmp_path / "s.jsonl"
    writer = SessionWriter(session)
    writer(original.events)
    writer.close()

    same = replay(str(session), "--id", original.id, "--to", chat.url)
    assert same.returncode == 0, same.stderr
    assert "→ hello" in same.stdout
    assert "← echo: hello" in same.stdout
    assert same.stdout.rstrip().endswith("same answer as the original")

    different = replay(str(session), "--id", original.id, "--to", changed.url, "--paced")
    assert different.returncode == 0, different.stderr
    assert "2 differences from the original:" in different.stdout
    assert "message 2: echo: hello → ECHO> hello" in different.stdout

    down = replay(str(session), "--id", original.id, "--to", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1
    assert down.stdout == ""
    assert "ConnectionRefusedError" in down.stderr
    assert len(down.stderr.splitlines()) == 1

    unknown = replay(str(session), "--id", "nope-1")
    assert unknown.returncode == 1
    assert unknown.stderr == f"inspector replay: no exchange 'nope-1' in {session}\n"
