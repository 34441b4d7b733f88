"""Policy for the hot side: the process-wide sink, configured from `INSPECTOR_*` variables.

The sink and the collector only move bytes; choosing where to and how much to keep happens
here, once per process, for the middlewares (and for `inspector listen`'s defaults).

- `INSPECTOR_BUS`: `unix:PATH` or `tcp://HOST:PORT` (default: the per-user socket, see
  `inspector.wire`); `off` turns capture off.
- `INSPECTOR_TOKEN`: the token to present to a collector that asks for one.
- `INSPECTOR_BUFFER`: records a process keeps while no viewer reads them (default 50,000,
  and at most 32 MiB; the oldest go first).
"""

from __future__ import annotations

import os
import threading

from inspector import wire
from inspector.records import DEFAULT_CAPACITY
from inspector.sink import Sink

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
                _default = Sink(address, token=token_from_env(), capacity=buffer_from_env())
            _resolved = True
        return _default


def sink_to(address: str | wire.Address, token: str | None = None) -> Sink:
    """A new sink streaming to the collector at `address`."""
    if isinstance(address, str):
        address = wire.parse_address(address)
    return Sink(address, token=token if token is not None else token_from_env())
