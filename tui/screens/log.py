"""The server log: the end of the file `inspector run` sends its command's output to (the viewer
owns the terminal), followed while the screen is open (`L`).

It shows the last `LINES` lines, then reads what was appended every `REFRESH` seconds from
where it stopped, so a server writing fast costs only its new bytes. A file replaced or
truncated (a log rotated) is read again from its end; one not there yet is said, and shown
once it is. A line is shown once it ends; captured text is made printable, as everywhere.
The view follows the end unless the reader scrolled up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Header, Log, Static

from tui.widgets.cells import printable
from tui.widgets.footer import KeyFooter

LINES = 200
REFRESH = 0.5
_TAIL = 256 * 1024
"""Bytes read from the end of the file, at most: LINES lines of up to ~1 KiB."""


class LogScreen(Screen[None]):
    DEFAULT_CSS = """
    LogScreen #where { height: 1; background: $panel; padding: 0 1; }
    LogScreen Log { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,L", "app.pop_screen", "Back")]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: tuple[int, int] | None = None
        """The (device, inode) read so far: another file is read from its end."""
        self._offset = 0
        self._partial = b""
        """The start of a line not ended yet."""
        self._cut = False
        """The first line to end is one whose start was not read: it is left out."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="where")
        yield Log(max_lines=LINES)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "server log"
        self.read()
        log = self.query_one(Log)
        self.call_after_refresh(log.scroll_end, animate=False)  # laid out: its end is known
        self.set_interval(REFRESH, self.read)

    def read(self) -> None:
        log = self.query_one(Log)
        try:
            with open(self.path, "rb") as file:
                info = os.fstat(file.fileno())
                new = (info.st_dev, info.st_ino) != self._file or info.st_size < self._offset
                if new or info.st_size - self._offset > _TAIL:  # from the end, mid-line maybe
                    self._file = (info.st_dev, info.st_ino)
                    self._offset = max(info.st_size - _TAIL, 0)
                    self._partial = b""
                    self._cut = self._offset > 0
                    log.clear()
                file.seek(self._offset)
                data = file.read(info.st_size - self._offset)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._where(f"{self.path}: {reason} (the command's output goes there)", "yellow")
            return
        self._where(f"{self.path}: its last {LINES} lines, followed while open", "")
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if lines and self._cut:
            del lines[0]
            self._cut = False
        if lines:
            text = [printable(line.rstrip(b"\r").decode(errors="replace")) for line in lines]
            at_end = log.scroll_y >= log.max_scroll_y  # else the reader scrolled up: stay
            log.write_lines(text[-LINES:], scroll_end=at_end)

    def _where(self, message: str, style: str) -> None:
        self.query_one("#where", Static).update(Text(printable(message), style))
