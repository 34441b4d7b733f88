"""How exchange fields read in one cell: status colours, durations, clock times, sizes, and
captured text made safe to show.

Shared by the exchange list, the detail panes and the footer so a status or a duration looks
the same everywhere; sizes come from the headless log (`tui.console.size`). Captured text
(paths, headers, bodies, messages, error strings) goes through `printable` before it reaches
the terminal, and into `Text` (never a markup string) so `[` in a header cannot break a pane.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from rich.table import Table
from rich.text import Text

from inspector.observe.exchange import Exchange
from tui.console import size

__all__ = [
    "clock",
    "duration",
    "is_replay",
    "kv_table",
    "millis",
    "printable",
    "size",
    "status_cell",
    "status_style",
]

# C0 and C1 controls: ESC and CSI (0x9b) start the sequences that move the cursor, recolour
# or wipe the screen. Tab stays (Rich expands it); newline stays in multi-line text.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROLS_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character but tab (and newline, if `multiline`) shown as a
    visible escape such as `\\x1b`, so captured data can never drive the terminal."""
    if multiline:
        return _CONTROLS_BUT_NEWLINE.sub(_escape, text.replace("\r\n", "\n"))
    return _CONTROLS.sub(_escape, text)


def kv_table(rows: Iterable[tuple[str, str]], key_style: str = "bold cyan") -> Table:
    """Names and values (headers, query, form fields, a scope), the values folding to fit."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=False)
    table.add_column(style=key_style, no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(Text(printable(key)), Text(printable(value)))
    return table


_STATUS_STYLE = {1: "cyan", 2: "green", 3: "blue", 4: "yellow", 5: "bold red"}


def status_style(status: int | None) -> str:
    return _STATUS_STYLE.get((status or 0) // 100, "magenta")


def status_cell(exchange: Exchange) -> tuple[str, str]:
    """The status as shown in lists, and its style: `…` while waiting, `ERR` when none came."""
    status = exchange.status
    if status is not None:
        return str(status), status_style(status)
    if exchange.finished is None and exchange.error is None:
        return "…", "dim"
    return "ERR", "bold magenta"


def duration(ns: int | None) -> str:
    if ns is None:
        return ""
    ms = ns / 1e6
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def millis(ns: int) -> str:
    """A relative time in milliseconds, signed so the timeline's columns line up."""
    return f"+{ns / 1e6:,.3f} ms"


def clock(wall_time: float) -> str:
    local = time.localtime(wall_time)
    return time.strftime("%H:%M:%S", local) + f".{int(wall_time * 1000) % 1000:03d}"


def is_replay(exchange: Exchange) -> bool:
    """Replays carry a snapshot holding `replay_of` (the id of the exchange they repeat)."""
    request = exchange.request
    return request is not None and "replay_of" in request.snapshot
