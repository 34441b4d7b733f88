"""The viewer in a real terminal (tmux): requests through `inspect-proxy` appear in it, and `y`
in `inspector open` fills tmux's paste buffer.

The viewer draws into a tmux pane, as a user would see it; the tests read the pane's text.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from inspector.observe.session import SessionWriter
from tests.servers import ROOT, free_port, serve
from tui.scenarios import session


def tmux(*args: str, server: str | None = None) -> str:
    """`tmux ARGS`, on the private server `server` (`tmux -L`) if given."""
    private = ["-L", server, "-f", "/dev/null"] if server else []
    return subprocess.run(
        ["tmux", *private, *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


def pane_until(
    session: str, wanted: list[str], timeout: float = 20.0, server: str | None = None
) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = tmux("capture-pane", "-p", "-t", session, server=server)
        if all(w in text for w in wanted) or time.monotonic() > deadline:
            missing = [w for w in wanted if w not in text]
            assert not missing, f"{missing} not on screen:\n{text}"
            return text
        time.sleep(0.1)


def test_inspect_proxy_shows_live_requests_in_a_terminal(tmp_path: Path) -> None:
    assert shutil.which("tmux"), "tmux is needed (scripts/test.sh installs it)"
    session = f"inspector-test-{free_port()}"
    port = free_port()
    with serve("uvicorn", "tests.apps.asgi_cases:app", tmp_path) as upstream:
        # Textual takes COLUMNS and LINES over the terminal's real size: drop them.
        main = "import sys; from tui.cli import proxy_main; sys.exit(proxy_main())"
        command = (
            f"env -u COLUMNS -u LINES {sys.executable} -c '{main}'"
            f" --upstream {upstream.port} --listen {port}"
        )
        tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "30", "-c", str(ROOT), command)
        try:
            pane_until(session, ["inspect-proxy", f"127.0.0.1:{upstream.port}"])
            for n in range(3):
                response = httpx.get(f"http://127.0.0.1:{port}/plain?visit={n}", timeout=10)
                assert response.status_code == 200
            text = pane_until(session, [f"/plain?visit={n}" for n in range(3)])
            rows = [line for line in text.splitlines() if "/plain?visit=" in line]
            assert all(" proxy " in row and " GET " in row and " 200 " in row for row in rows)
            tmux("send-keys", "-t", session, "q")
            deadline = time.monotonic() + 10
            while (
                subprocess.run(
                    ["tmux", "has-session", "-t", session], capture_output=True
                ).returncode
                == 0
            ):
                assert time.monotonic() < deadline, "q did not quit the viewer"
                time.sleep(0.1)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_copy_in_inspector_open_fills_the_tmux_paste_buffer(tmp_path: Path) -> None:
    assert shutil.which("tmux"), "tmux is needed (scripts/test.sh installs it)"
    saved = tmp_path / "s.jsonl"
    writer = SessionWriter(saved)
    writer(session())
    writer.close()
    server = f"inspector-test-{free_port()}"  # a tmux server of its own: never the user's
    command = (
        f"env -u COLUMNS -u LINES XDG_DATA_HOME={tmp_path / 'data'}"
        f" {sys.executable} -m tui open {saved}"
    )
    new = ("new-session", "-d", "-s", "open", "-x", "120", "-y", "30", "-c", str(ROOT), command)
    tmux(*new, server=server)
    socket = Path(tmux("display-message", "-p", "#{socket_path}", server=server).strip())
    try:
        pane_until("open", ["SAVED", "/api/items?page=3"], server=server)
        tmux("send-keys", "-t", "open", "g", "y", server=server)  # the first row
        pane_until("open", ["Copied curl", "paste buffer"], server=server)
        buffer = tmux("show-buffer", server=server)
        assert buffer.startswith("curl 'http://shop.example:8000/api/items?page=2'")
        assert not (tmp_path / "data").exists(), "inside tmux, no file is needed"
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
        socket.unlink(missing_ok=True)  # tmux leaves it behind
