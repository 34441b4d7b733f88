"""What the relay's connections share: the proxy-wide settings, and one exchange in flight.

`Shared` is built once per `Proxy.start()`; `Flight` is the per-exchange state the request
side creates and the response side finishes. Both are plain slotted objects: they are touched
on every request, so attribute access must stay cheap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from inspector.bus import EventBus
from inspector.events import ExchangeFinished, Outcome
from inspector.proxy.config import ProxyConfig, format_address

if TYPE_CHECKING:
    from inspector.proxy.client import ClientConnection

Record = Callable[..., None]

# Why a client connection's reads are paused (a bit each): reading resumes when none is left.
FULL, CONNECTING, UPGRADING, STOPPED = 1, 2, 4, 8
# What a client connection does once the upstream bytes just read were written to it
# (IDLE: the last response ended; the idle clock starts if nothing else is in flight).
CLOSE, REJECT, RESUME, IDLE = 1, 2, 4, 8


class Shared:
    __slots__ = (
        "authorities",
        "body_limit",
        "bus",
        "config",
        "connections",
        "count",
        "loop",
        "redact",
        "server",
        "timeout",
        "timeout_ns",
        "upstream",
    )

    def __init__(self, config: ProxyConfig, bus: EventBus, port: int) -> None:
        self.config = config
        self.bus = bus
        self.loop = asyncio.get_running_loop()
        self.upstream = config.upstream_text
        self.server: tuple[str, int] = (config.listen[0], port)
        self.body_limit = config.body_limit
        self.redact = config.redact_names
        self.timeout = config.response_timeout
        self.timeout_ns = int(config.response_timeout * 1e9)
        self.connections: set[ClientConnection] = set()
        self.count = 0
        self.authorities = _authorities(config.upstream, self.server)


def _authorities(upstream: tuple[str, int], listen: tuple[str, int]) -> frozenset[bytes]:
    """The authorities an absolute-form request-target may name (RFC 9112 §3.2.2): the
    upstream's and the proxy's own. Any other host is refused: this is no open proxy."""
    hosts = {upstream[0], listen[0], "localhost", "127.0.0.1", "::1"}
    names = set()
    for port in (upstream[1], listen[1]):
        for host in hosts:
            names.add(format_address((host.lower(), port)).encode())
            if port == 80:
                names.add(format_address((host.lower(), port)).rpartition(":")[0].encode())
    return frozenset(names)


class Flight:
    """One exchange between its request head and the end of its response."""

    __slots__ = (
        "close",
        "finished",
        "head",
        "id",
        "replay",
        "request_done",
        "request_left",
        "response_left",
        "response_start",
        "started",
        "upgrade",
        "waiting",
        "websocket",
    )

    def __init__(self, xid: str, started: int, head: bool, limit: int) -> None:
        self.id = xid
        self.started = started
        self.head = head  # a HEAD request: its response has no content (RFC 9110 §9.3.2)
        self.websocket = False
        self.upgrade = False  # an upgrade request: the client waits for the answer
        self.close = False  # the connection closes after this response
        self.request_left = limit
        self.response_left = limit
        self.request_done: int | None = None
        self.response_start: int | None = None
        self.waiting: int | None = None  # since when the response head is awaited
        self.replay: bytes | None = None  # the request as forwarded, while it may be retried
        self.finished = False

    def finish(self, record: Record, outcome: Outcome, at: int) -> None:
        """Records `ExchangeFinished` with its timings, once: every path that ends it ends here."""
        if self.finished:
            return
        self.finished = True
        started = self.started
        request_ns = None if self.request_done is None else self.request_done - started
        first = None if self.response_start is None else self.response_start - started
        record(ExchangeFinished, self.id, at, outcome, request_ns, first, at - started)
