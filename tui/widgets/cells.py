"""How exchange fields read in one cell: status colours, durations, clock times, sizes.

Shared by the exchange list, the detail panes and the footer so a status or a duration looks
the same everywhere; sizes come from the headless log (`tui.console.size`).
"""

from __future__ import annotations

import time

from inspector.exchange import Exchange
from tui.console import size

__all__ = ["clock", "duration", "is_replay", "millis", "size", "status_cell", "status_style"]

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
    """Replays carry a plain dict snapshot with `replay_of` (captured ones are lazy Snapshots:
    reading those would convert a whole scope per row, so they are not looked into)."""
    request = exchange.request
    return (
        request is not None and type(request.snapshot) is dict and "replay_of" in request.snapshot
    )
