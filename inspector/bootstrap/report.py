"""The report: how the processes of `inspector run`'s command tell it what the bootstrap did.

Each Python process that runs the bootstrap appends JSON lines to the file named by
`INSPECTOR_RUN_REPORT`: one when it starts (its interpreter, and whether that interpreter can
import inspector at all), one each time an app is wrapped, left alone (it captures in code
already) or a server could not be hooked. `inspector run` reads them to tell the user what is
captured and, when nothing is, why.

A file, not a socket: a process whose Python cannot import inspector must still be able to
write its line (`sitedir/sitecustomize.py` writes that one itself, in the same format), and
the lines must outlive the processes that wrote them. Each line is one `write` to a file
opened with `O_APPEND`, so lines from many processes never mix.
"""

from __future__ import annotations

import json
import os
from typing import Any

ENV = "INSPECTOR_RUN_REPORT"


def report(**fields: Any) -> None:
    """Append one line saying `fields` (with this process's pid); never raises: a report
    that cannot be written must not disturb the app."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        line = json.dumps({"pid": os.getpid(), **fields}).encode() + b"\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except Exception:
        pass


class ReportReader:
    """Reads the lines appended since the last call (a last line not yet whole waits)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return []
        whole = data[: data.rfind(b"\n") + 1]
        self._offset += len(whole)
        lines = []
        for line in whole.splitlines():
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            if isinstance(fields, dict):
                lines.append(fields)
        return lines
