"""Capture with no code change: what `inspector run` installs in its command's processes.

`environment()` gives the command what it needs: `sitedir/` first on PYTHONPATH, so every
Python process it starts (workers and reloader children included) runs our `sitecustomize`
at start-up, and the viewer's bus address. That file watches for the server modules named in
`servers` and patches each one as it is imported, so that the app the server loads is wrapped
by `wrap` (once, even when it captures in code already); each process says what it did in
the report (`report`). Nothing here imports a server, or runs in a process that does not
start one.

Hot side: imports the capture middlewares and the core, never the observer side.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from inspector import wire
from inspector.bootstrap import report

SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sitedir")


def environment(base: Mapping[str, str], bus: wire.Address, report_path: str) -> dict[str, str]:
    """`base` (the command's environment) with the bootstrap first on PYTHONPATH, capture
    streaming to `bus` with no token (a private Unix socket needs none), and the report."""
    env = dict(base)
    path = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    env["PYTHONPATH"] = os.pathsep.join([SITE_DIR, *(p for p in path if p != SITE_DIR)])
    env[wire.ENV] = str(bus)
    env["INSPECTOR_TOKEN"] = ""
    env[report.ENV] = report_path
    return env
