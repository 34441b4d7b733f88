"""Policy for the hot side: the process-wide sink, configured from `INSPECTOR_*` variables.

The sink and the collector only move bytes; choosing where to and how much to keep happens
here, once per process, for the middlewares (and for `inspector listen`'s defaults).

- `INSPECTOR_BUS`: `unix:PATH` or `tcp://HOST:PORT` (default: the per-user socket, see
  `inspector.wire`); `off` turns capture off.
- `INSPECTOR_TOKEN`: the token to present to a collector that asks for one.
- `INSPECTOR_BUFFER`: records a process keeps while no viewer reads them (default 50,000,
  and at most 32 MiB; the oldest go first).

A process whose sink has reached no viewer 5 s after it was made says so once on stderr,
naming the address and how to change it (`INSPECTOR_BUS`): exported in one shell and not in
the viewer's, it would otherwise stream to where no one listens, silently. Not under
`inspector run`, which starts the viewer itself and keeps the command's output its own.
"""

from __future__ import annotations

import os
import sys
import threading

from inspector import sink, wire
from inspector.bootstrap import report
from inspector.records import DEFAULT_CAPACITY
from inspector.sink import Sink, Unreached

_default: Sink | None = None
_resolved = False
_lock = threading.Lock()


def token_from_env() -> str | None:
    return os.environ.get("INSPECTOR_TOKEN") or None


def buffer_from_env() -> int:
    text = os.environ.get("INSPECTOR_BUFFER") or str(DEFAULT_CAPACITY)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"INSPECTOR_BUFFER must be a number of records, not {text!r}")
    return int(text)


def default_sink() -> Sink | None:
    """The process-wide sink (made, and connecting, on first use), or None when
    `INSPECTOR_BUS=off`."""
    global _default, _resolved
    with _lock:
        if not _resolved:
            address = wire.address_from_env()
            if address is not None:
                _default = Sink(
                    address,
                    token=token_from_env(),
                    capacity=buffer_from_env(),
                    on_unreached=_unreached(address, in_code=False),
                )
            _resolved = True
        return _default


def sink_to(address: str | wire.Address, token: str | None = None) -> Sink:
    """A new sink streaming to the collector at `address`."""
    if isinstance(address, str):
        address = wire.parse_address(address)
    token = token if token is not None else token_from_env()
    return Sink(address, token=token, on_unreached=_unreached(address, in_code=True))


def _unreached(address: wire.Address, in_code: bool) -> Unreached | None:
    """What a sink to `address` (given as `bus=` in code, or else by `INSPECTOR_BUS` or its
    default) says if it reaches no viewer; None when capture is off or under `inspector run`."""
    try:
        off = wire.address_from_env() is None  # a bus given in code, with INSPECTOR_BUS=off
    except ValueError:
        off = False
    if off or os.environ.get(report.ENV):
        return None
    other = "set INSPECTOR_BUS to the viewer's address (off turns capture off)"
    if in_code:
        given, other = "given in code", "give bus= the viewer's address"
    elif os.environ.get(wire.ENV, "").strip():
        given = "from INSPECTOR_BUS"
    else:
        given = "the default: INSPECTOR_BUS is not set"

    def say(why: str) -> None:
        sys.stderr.write(
            f"inspector: pid {os.getpid()} reached no viewer at {address} ({given}) in"
            f" {sink.UNREACHED_AFTER:g} s: {why}. Start one there (inspector listen --bus"
            f" {address}), or {other}.\n"
        )
        sys.stderr.flush()

    return say
