"""`python -m tui.demo` end to end: real uvicorn, real traffic, the headless log shows it all."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.servers import ROOT, free_port


def test_demo_captures_every_kind_of_traffic() -> None:
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.demo",
            "--port",
            str(port),
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
    )
    out = result.stdout
    assert f"demo app on http://127.0.0.1:{port}" in out
    expected = {
        "/api/items?page=": r"GET +200 ",
        "/form": r"POST +201 ",
        "/slow": r"GET +200 ",
        "/error": r"GET +ERR ",
        "/events": r"GET +200 ",
        "/ws": r"GET +101 ",
    }
    for path, pattern in expected.items():
        assert re.search(pattern + r".*" + re.escape(path), out), f"{path} missing:\n{out}"
    assert "RuntimeError: the demo app failed on purpose" in out
    assert "'echo: hello'" in out
    assert "↑     14 B" in out  # the form body the app read
