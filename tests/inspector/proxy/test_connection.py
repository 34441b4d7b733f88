"""The connection's rules without sockets: a fake `Io` logs what it is asked, a fake clock
stands in for time, so every timeout is tested exactly and none waits for real timers.

What the connection records goes through the real record buffer, builder and fold, so each
case asserts the exchanges a user would see.
"""

from __future__ import annotations

from typing import Any

import pytest

from inspector import records as rec
from inspector.observe.build import Builder
from inspector.observe.exchange import Exchange, fold
from inspector.proxy.config import ProxyConfig
from inspector.proxy.connection import HOLD_LIMIT, Connection
from inspector.proxy.state import Hop, Link, Shared

S = 1_000_000_000  # one second, in the clock's nanoseconds
CLIENT = ("127.0.0.1", 5000)  # the client's address, and the proxy's end (port 8) below
GET = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class FakeIo:
    """Does nothing but log what the connection asks, and keep the wake it asked for."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.wake = 0

    def to_client(self, data: bytes) -> None:
        self.log.append(("to_client", data))

    def to_upstream(self, data: bytes) -> None:
        self.log.append(("to_upstream", data))

    def pause_client(self) -> None:
        self.log.append(("pause_client",))

    def resume_client(self) -> None:
        self.log.append(("resume_client",))

    def pause_upstream(self) -> None:
        self.log.append(("pause_upstream",))

    def resume_upstream(self) -> None:
        self.log.append(("resume_upstream",))

    def connect(self) -> None:
        self.log.append(("connect",))

    def close_upstream(self, reset: bool) -> None:
        self.log.append(("close_upstream", reset))

    def close_client(self, reset: bool) -> None:
        self.log.append(("close_client", reset))

    def wake_at(self, deadline: int) -> None:
        self.wake = deadline

    def take(self) -> list[tuple[Any, ...]]:
        log, self.log = self.log, []
        return log

    def sent(self, kind: str) -> bytes:
        return b"".join(entry[1] for entry in self.log if entry[0] == kind)


class Harness:
    """One `Connection` on a fake clock; `advance` moves time and runs the wakes it passes."""

    def __init__(self, upstreams: dict[Link, Hop] | None = None, **settings: Any) -> None:
        config = ProxyConfig(upstream=("127.0.0.1", 9), listen=("127.0.0.1", 8), **settings)
        self.buffer = rec.RecordBuffer()
        self.io = FakeIo()
        self.now = 1000 * S
        self.shared = Shared(config, self.buffer, 8, {} if upstreams is None else upstreams)
        self.connection = Connection(
            self.shared, self.io, CLIENT, lambda: self.now, local=("127.0.0.1", 8)
        )
        self.builder = Builder()
        self.exchanges: dict[str, Exchange] = {}

    def advance(self, seconds: float) -> None:
        end = self.now + int(seconds * S)
        while self.io.wake and self.io.wake <= end:
            self.now = max(self.now, self.io.wake)
            self.io.wake = 0
            self.connection.tick()
        self.now = end

    def open(self) -> None:
        """The upstream connection the connection asked for opens."""
        assert ("connect",) in self.io.log
        self.connection.upstream_connected()

    def folded(self) -> list[Exchange]:
        records = [rec.decode_record(data) for data in self.buffer.take()]
        fold(self.builder.build(records), self.exchanges)
        return list(self.exchanges.values())

    def closed(self) -> bool:
        return any(entry[0] == "close_client" for entry in self.io.log)


def only(harness: Harness) -> Exchange:
    (exchange,) = harness.folded()
    return exchange


def test_a_request_and_its_response_pass_unchanged() -> None:
    h = Harness()
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    assert (h.io.sent("to_upstream"), h.io.sent("to_client")) == (GET, OK)
    exchange = only(h)
    assert (exchange.status, exchange.state) == (200, "completed")


def test_one_header_name_masks_that_header_in_what_is_recorded_only() -> None:
    h = Harness(redact="authorization")
    request = b"GET /a HTTP/1.1\r\nHost: a\r\nAuthorization: secret\r\n\r\n"
    h.connection.client_data(request)
    h.open()
    h.connection.upstream_data(OK)
    assert h.io.sent("to_upstream") == request
    started = only(h).request
    assert started is not None
    assert started.headers == ((b"Host", b"a"), (b"Authorization", b"[redacted]"))


# -- loops ----------------------------------------------------------------------------------------


def test_a_request_on_the_proxys_own_upstream_connection_gets_508_and_goes_no_further() -> None:
    upstreams: dict[Link, Hop] = {}
    h = Harness(upstreams)
    # The client connection is one the proxy opened to its upstream, for a client of its own.
    upstreams[(CLIENT, ("127.0.0.1", 8))] = (h.shared, (("127.0.0.1", 4000), ("127.0.0.1", 8)))
    h.connection.client_data(GET)
    assert h.io.sent("to_client").startswith(b"HTTP/1.1 508 Loop Detected\r\n")
    assert ("connect",) not in h.io.log
    assert h.io.sent("to_upstream") == b""
    assert h.closed()
    exchange = only(h)
    assert (exchange.status, exchange.state) == (508, "failed")
    assert exchange.error is not None
    assert exchange.error.type == "inspector.proxy.LoopDetected"
    assert exchange.error.message == (
        "this request came back to this proxy: upstream 127.0.0.1:9 leads here (a forwarding loop)"
    )


def test_a_request_that_went_through_another_proxy_back_here_gets_508() -> None:
    upstreams: dict[Link, Hop] = {}
    h = Harness(upstreams)
    other = Shared(ProxyConfig(upstream=("127.0.0.1", 8)), rec.RecordBuffer(), 7, upstreams)
    ours = (("127.0.0.1", 4001), ("127.0.0.1", 7))  # this proxy's connection to the other
    upstreams[(CLIENT, ("127.0.0.1", 8))] = (other, ours)  # the other's connection to us
    upstreams[ours] = (h.shared, (("127.0.0.1", 4000), ("127.0.0.1", 8)))
    h.connection.client_data(GET)
    assert h.io.sent("to_client").startswith(b"HTTP/1.1 508 Loop Detected\r\n")


@pytest.mark.parametrize(
    "link",
    [
        (CLIENT, ("127.0.0.1", 9)),  # the same local port, towards another address
        (("127.0.0.1", 4000), ("127.0.0.1", 8)),  # another client's
    ],
)
def test_a_connection_that_is_not_one_of_the_proxys_own_is_forwarded(link: Link) -> None:
    upstreams: dict[Link, Hop] = {}
    h = Harness(upstreams)
    upstreams[link] = (h.shared, None)
    h.connection.client_data(GET)
    h.open()
    assert h.io.sent("to_upstream") == GET


def test_a_chain_of_other_proxies_is_no_loop() -> None:
    upstreams: dict[Link, Hop] = {}
    h = Harness(upstreams)
    first = Shared(ProxyConfig(upstream=("127.0.0.1", 7)), rec.RecordBuffer(), 6, upstreams)
    second = Shared(ProxyConfig(upstream=("127.0.0.1", 8)), rec.RecordBuffer(), 7, upstreams)
    into_second = (("127.0.0.1", 4001), ("127.0.0.1", 7))
    upstreams[into_second] = (first, (("127.0.0.1", 4000), ("127.0.0.1", 6)))
    upstreams[(CLIENT, ("127.0.0.1", 8))] = (second, into_second)
    h.connection.client_data(GET)
    h.open()
    assert h.io.sent("to_upstream") == GET


# -- the head clock -------------------------------------------------------------------------------


def test_an_empty_line_alone_starts_the_head_clock_and_is_not_forwarded() -> None:
    h = Harness(idle_timeout=2, header_timeout=2)
    h.connection.client_data(b"\r\n")
    h.advance(1.9)
    assert h.io.take() == []  # nothing forwarded, no upstream connection opened
    h.advance(0.2)
    assert h.io.sent("to_client").startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert ("close_client", False) in h.io.log
    exchange = only(h)
    assert (exchange.status, exchange.state) == (408, "failed")
    assert exchange.error is not None
    assert exchange.error.message == "the request head was not complete within 2 s"


def test_empty_lines_before_a_request_are_forwarded_with_it() -> None:
    h = Harness()
    h.connection.client_data(b"\r\n\r\n")
    h.connection.client_data(GET)
    h.open()
    assert h.io.sent("to_upstream") == b"\r\n\r\n" + GET


def test_each_head_has_its_own_clock_and_the_idle_clock_restarts_after_each_response() -> None:
    h = Harness(idle_timeout=1.0, header_timeout=0.5)
    h.connection.client_data(GET[:20])
    h.advance(0.4)
    h.connection.client_data(GET[20:])
    h.open()
    h.connection.upstream_data(OK)
    for _ in range(2):  # each head in two reads: together they outlast one head clock
        h.connection.client_data(GET[:20])
        h.advance(0.4)
        h.connection.client_data(GET[20:])
        h.connection.upstream_data(OK)
    for _ in range(2):  # each pause outlasts the head clock and, together, the idle clock
        h.advance(0.9)
        h.connection.client_data(GET)
        h.connection.upstream_data(OK)
    assert not h.closed()
    assert [(x.status, x.state) for x in h.folded()] == [(200, "completed")] * 5
    h.advance(1.0)
    assert h.closed()  # then idle for the whole idle timeout: closed, with nothing recorded
    assert len(h.folded()) == 5


# -- the body clock -------------------------------------------------------------------------------

POST_100 = b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"


def test_a_stalled_request_body_gets_408_and_its_upstream_connection_closes() -> None:
    h = Harness(body_timeout=60)
    h.connection.client_data(POST_100 + b"abc")
    h.open()
    h.advance(59)
    h.connection.client_data(b"d")  # each read restarts the clock
    h.advance(59)
    assert not h.closed()
    h.advance(1)
    assert h.io.sent("to_client").startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert ("close_upstream", False) in h.io.log
    assert ("close_client", False) in h.io.log
    exchange = only(h)
    assert (exchange.status, exchange.state) == (408, "failed")
    assert exchange.error is not None
    assert exchange.error.message == "the request body stalled: no bytes for 60 s"
    assert bytes(exchange.request_body.data) == b"abcd"


def test_a_stalled_body_after_an_early_response_closes_the_connection() -> None:
    h = Harness(body_timeout=10)
    h.connection.client_data(POST_100 + b"abc")
    h.open()
    h.connection.upstream_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n")
    h.advance(10)
    assert ("close_client", True) in h.io.log  # cut: the client must not read it as whole
    exchange = only(h)
    assert exchange.state == "failed"
    assert exchange.error is not None
    assert exchange.error.response_started


def test_the_body_clock_waits_while_the_upstream_reads_nothing() -> None:
    h = Harness(body_timeout=10, send_timeout=60)
    h.connection.client_data(POST_100 + b"abc")
    h.open()
    h.connection.upstream_full()  # the proxy stops reading the client: not the client's fault
    h.advance(30)
    assert not h.closed()
    h.connection.upstream_drained()
    h.advance(9.9)
    assert not h.closed()
    h.advance(0.1)
    assert h.io.sent("to_client").startswith(b"HTTP/1.1 408")


# -- the send clock -------------------------------------------------------------------------------


def test_a_client_that_reads_nothing_of_a_response_is_reset_with_its_upstream() -> None:
    h = Harness(send_timeout=60)
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\nxx")
    h.connection.client_full()
    assert ("pause_upstream",) in h.io.log
    h.advance(59)
    h.connection.client_drained()  # it read some: the clock stops
    h.connection.client_full()
    h.advance(59)
    assert not h.closed()
    h.advance(1)
    assert ("close_client", True) in h.io.log
    assert ("close_upstream", True) in h.io.log
    exchange = only(h)
    assert exchange.state == "failed"
    assert exchange.error is not None
    assert exchange.error.type == "inspector.proxy.SendTimeout"
    assert exchange.error.message == "the client read nothing of what was sent to it for 60 s"


def test_an_upstream_that_reads_nothing_of_a_request_body_is_reset() -> None:
    h = Harness(send_timeout=5, body_timeout=60)
    h.connection.client_data(POST_100)
    h.open()
    h.connection.upstream_full()
    h.advance(5)
    assert ("close_upstream", True) in h.io.log
    exchange = only(h)
    assert exchange.error is not None
    assert (
        exchange.error.message == "upstream 127.0.0.1:9 read nothing of what was sent to it for 5 s"
    )


# -- the response clock ---------------------------------------------------------------------------


def test_no_response_head_in_time_gets_504() -> None:
    h = Harness(response_timeout=3)
    h.connection.client_data(GET)
    h.open()
    h.advance(2.9)
    assert h.io.sent("to_client") == b""
    h.advance(0.1)
    assert h.io.sent("to_client").startswith(b"HTTP/1.1 504 Gateway Timeout\r\n")
    assert (only(h).status, only(h).state) == (504, "failed")


# -- one request at a time ------------------------------------------------------------------------


def test_pipelined_requests_are_read_one_at_a_time_and_held_bytes_are_bounded() -> None:
    h = Harness()
    pipelined = GET * 10_000  # 280 KB of requests, never reading a response
    reads = 0
    while ("pause_client",) not in h.io.log[1:]:  # as a transport: no reads once paused
        h.connection.client_data(pipelined[reads * 4096 : (reads + 1) * 4096])
        reads += 1
        if reads == 1:
            h.open()  # (connecting paused reading too, until the upstream connection opened)
    assert h.io.sent("to_upstream") == GET  # only the first went upstream
    assert HOLD_LIMIT < len(h.connection.held) <= HOLD_LIMIT + 4096  # then reading paused
    h.io.take()
    h.connection.upstream_data(OK)  # its response ends: the next request is read
    assert h.io.sent("to_upstream") == GET
    assert h.io.sent("to_client") == OK
    assert [x.state for x in h.folded()] == ["completed", "pending"]


def test_a_response_ending_before_its_request_closes_the_connection_after_it() -> None:
    h = Harness()
    h.connection.client_data(POST_100 + b"abc")
    h.open()
    h.connection.upstream_data(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
    assert ("close_client", False) in h.io.log
    assert only(h).status == 413


@pytest.mark.parametrize("retry", [True, False])
def test_an_idempotent_request_is_retried_once_when_a_kept_alive_upstream_closes(
    retry: bool,
) -> None:
    h = Harness()
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    second = GET if retry else b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"
    h.connection.client_data(second)
    h.io.take()
    h.connection.upstream_lost(None)  # it met the upstream's idle close
    if retry:
        assert h.io.take() == [("pause_client",), ("connect",)]
        h.connection.upstream_connected()
        assert h.io.sent("to_upstream") == GET
    else:
        assert h.io.sent("to_client").startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
