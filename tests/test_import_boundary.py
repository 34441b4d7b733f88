"""The library stays light: importing it (and wrapping an app) loads no UI package."""

from __future__ import annotations

import subprocess
import sys


def test_importing_inspector_loads_no_ui_or_web_framework() -> None:
    code = (
        "import sys, inspector, inspector.codec, inspector.exchange, inspector.export\n"
        "import inspector.filters, inspector.store, inspector.session, inspector.collector\n"
        "from inspector import ASGIInspectorMiddleware, WSGIInspectorMiddleware\n"
        "ASGIInspectorMiddleware(lambda s, r, w: None); WSGIInspectorMiddleware(lambda e, s: [])\n"
        "heavy = ('textual', 'rich', 'tui', 'starlette', 'httpx', 'uvicorn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
