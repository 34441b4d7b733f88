"""`inspector demo` end to end: real uvicorn behind the real proxy, real traffic, both capture
points (the proxy and the ASGI middleware) reporting every exchange to the headless log."""

from __future__ import annotations

import re
import subprocess
import sys

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
