"""Copy as curl (`y`) puts the command where the user can paste it, and says truthfully where:
tmux's paste buffer inside tmux (checked on a private tmux server), elsewhere the terminal's
clipboard by OSC 52 (which no terminal confirms) and a file of the user's own."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.pilot import SIZE, until
from tui.app import InspectorApp
from tui.scenarios import WEB1, session

URL = "http://shop.example:8000/api/items?page=2"


def tmux(server: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", server, "-f", "/dev/null", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout


@pytest.fixture
def tmux_server() -> Iterator[str]:
    """A tmux server of its own (`tmux -L NAME`), with one detached session: never the user's."""
    assert shutil.which("tmux"), "tmux is needed (scripts/test.sh installs it)"
    server = f"inspector-copy-{os.getpid()}"
    tmux(server, "new-session", "-d", "-s", "copy", "-x", "80", "-y", "20")
    socket = Path(tmux(server, "display-message", "-p", "#{socket_path}").strip())
    try:
        yield server
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
        socket.unlink(missing_ok=True)  # tmux leaves it behind


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def said(app: InspectorApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


async def copy_first(app: InspectorApp) -> None:
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.press("home", "y")
        await until(pilot, lambda: bool(said(app)))


async def test_inside_tmux_the_command_goes_into_the_tmux_buffer(
    tmux_server: str, data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket = tmux(tmux_server, "display-message", "-p", "#{socket_path}").strip()
    monkeypatch.setenv("TMUX", f"{socket},{os.getpid()},0")  # as tmux sets it in its panes
    app = InspectorApp()
    await copy_first(app)
    buffer = tmux(tmux_server, "show-buffer")
    assert buffer.startswith(f"curl '{URL}'")
    [(title, message)] = said(app)
    assert title == "Copied curl"
    assert "tmux's paste buffer" in message
    assert app.clipboard == "", "no OSC 52 inside tmux: tmux drops it by default"
    assert not data_home.exists()


async def test_when_tmux_refuses_the_command_is_saved_and_the_reason_said(
    data_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMUX", f"{tmp_path / 'no-such-server'},1,0")
    app = InspectorApp()
    await copy_first(app)
    [(title, message)] = said(app)
    saved = data_home / "inspector" / "copied-curl.sh"
    assert "tmux load-buffer failed" in message
    assert str(saved) in message
    assert title != "Copied curl"
    assert saved.read_text().startswith(f"curl '{URL}'")


async def test_elsewhere_it_goes_out_by_osc_52_and_into_a_private_file(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    app = InspectorApp()
    await copy_first(app)
    saved = data_home / "inspector" / "copied-curl.sh"
    assert saved.read_text() == app.clipboard + "\n"
    assert app.clipboard.startswith(f"curl '{URL}'")
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    [(title, message)] = said(app)
    assert title == "Curl command saved"
    assert str(saved) in message
    assert "OSC 52" in message
    assert f"{WEB1}" not in message  # the command is shown, not the exchange's id


async def test_a_data_directory_open_to_others_is_closed_and_an_old_copy_replaced(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    directory = data_home / "inspector"
    directory.mkdir(parents=True, mode=0o755)
    directory.chmod(0o755)
    (directory / "copied-curl.sh").write_text("old")
    (directory / "copied-curl.sh").chmod(0o644)
    app = InspectorApp()
    await copy_first(app)
    saved = directory / "copied-curl.sh"
    assert saved.read_text().startswith(f"curl '{URL}'")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


async def test_a_copy_that_cannot_be_saved_says_why(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    data_home.mkdir()
    (data_home / "inspector").write_text("a file where the directory should be")
    app = InspectorApp()
    await copy_first(app)
    [(_, message)] = said(app)
    assert "could not save" in message
    assert app.clipboard.startswith("curl "), "OSC 52 was still sent"
