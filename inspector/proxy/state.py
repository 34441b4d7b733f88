"""What a proxy's connections share (`Shared`), and one exchange in flight (`Flight`).

`Shared` is built once per `Proxy.start()`; `Flight` is the per-exchange state the request
side creates and the response side finishes, and `record_body` records a body piece against
a flight's capture budget. Both classes are plain slotted objects: they are touched on every
request, so attribute access must stay cheap. Nothing here does I/O or builds an event:
records are raw facts (see `inspector.records`), turned into events by the observer.
`UPSTREAMS` knows the upstream connections every proxy of this process holds open, so that a
request that comes back to a proxy it went through is seen (`came_back`).
"""

from __future__ import annotations

from collections.abc import Callable

from inspector.events import Outcome, now_ns
from inspector.proxy.config import ProxyConfig, format_address
from inspector.proxy.holds import Steering
from inspector.records import FINISHED, Recorder
from inspector.redact import recorded_names

Record = Callable[..., None]
Address = tuple[str, int]
Link = tuple[Address, Address]
"""A TCP connection: (the address of the end that connected, the address of the end that
accepted), the same seen from either end."""
Hop = tuple["Shared", "Link | None"]
"""An upstream connection's proxy, and the link of the client connection it relays for."""


class Shared:
    __slots__ = (
        "authorities",
        "body_limit",
        "config",
        "count",
        "recorder",
        "redact",
        "server",
        "steering",
        "upstream",
        "upstreams",
    )

    def __init__(
        self,
        config: ProxyConfig,
        recorder: Recorder,
        port: int,
        upstreams: dict[Link, Hop] | None = None,
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.upstream = config.upstream_text
        self.server: tuple[str, int] = (config.listen[0], port)
        self.body_limit = config.body_limit
        # The header names the observer masks, as the request record carries them.
        self.redact = recorded_names(config.redact)
        self.count = 0  # connections accepted: each is numbered in its requests' records
        self.authorities = _authorities(config.upstream, self.server)
        self.upstreams = UPSTREAMS if upstreams is None else upstreams
        self.steering = Steering(recorder, config.hold_timeout)


UPSTREAMS: dict[Link, Hop] = {}
"""The upstream connections the proxies of this process hold open, by link, each with its
proxy and the client connection it relays for; the asyncio adapters keep it. Process-wide,
so that a loop through several proxies is seen: per proxy, only one to itself would be."""


def came_back(shared: Shared, link: Link | None) -> bool:
    """The client connection `link` is an upstream connection of a proxy of this process,
    which relays for a chain of connections that starts at `shared`'s proxy: what it brings
    went through there already, and forwarding it again would go round for ever, each turn on
    a new connection. Proxies chained on purpose (A to B to the app) are no loop: the chain
    from B's client connection does not lead back to B."""
    upstreams = shared.upstreams
    for _ in range(len(upstreams)):  # a chain passes each connection once at most
        hop = upstreams.get(link) if link is not None else None
        if hop is None:
            return False
        if hop[0] is shared:
            return True
        link = hop[1]
    return False


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
        "asked",
        "asked_body",
        "close",
        "finished",
        "head",
        "id",
        "replay",
        "request_done",
        "request_left",
        "response_left",
        "response_started",
        "upgrade",
        "waiting",
        "websocket",
    )

    def __init__(self, xid: str, head: bool, limit: int) -> None:
        self.id = xid
        self.head = head  # a HEAD request: its response has no content (RFC 9110 §9.3.2)
        self.websocket = False
        self.upgrade = False  # an upgrade request: the client waits for the answer
        self.close = False  # the connection closes after this response
        self.request_left = limit
        self.response_left = limit
        self.request_done = False  # the whole request was forwarded (a retry needs it)
        self.response_started = False  # the client got (part of) an answer: no 504 then
        self.waiting: int | None = None  # since when the response head is awaited
        self.replay: bytes | None = None  # the request as forwarded, while it may be retried
        self.finished = False
        self.asked = b""  # the request head as read (what a `responses` rule is asked about)
        self.asked_body: bytearray | None = None  # its body, kept while an HTTP rule is armed

    def finish(self, record: Record, outcome: Outcome, at: int) -> None:
        """Records the exchange's end, once: every path that ends it ends here. (Its timings
        are the observer's to derive from the records before.)"""
        if not self.finished:
            self.finished = True
            record(FINISHED, self.id, at, outcome)


def record_body(
    record: Record, tag: int, xid: str, left: int, data: bytes, start: int, end: int, last: bool
) -> int:
    """Records the body piece `data[start:end]` (`BODY_READ` or `BODY_SENT`: `tag`) keeping at
    most `left` bytes of it; returns how many may still be kept."""
    size = end - start
    keep = left if left < size else size
    if keep == len(data):  # all of `data` (start is 0): no copy
        record(tag, xid, now_ns(), data, size, not last)
    else:
        record(tag, xid, now_ns(), data[start : start + keep], size, not last)
    return left - keep
