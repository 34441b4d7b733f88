"""Folding events into exchanges: pure, no I/O, fixed ids and clocks."""

from __future__ import annotations

from msgspec.structs import replace

from inspector import events as ev
from inspector.observe.exchange import Exchange, fold
from tests.inspector.samples import XID, request_started


def test_http_exchange_goes_from_pending_to_complete() -> None:
    exchange = Exchange(XID)
    exchange.apply(request_started())
    assert (exchange.state, exchange.status) == ("pending", None)
    exchange.apply(ev.RequestBodyChunk(XID, 2, b"", 0, False))
    exchange.apply(
        ev.ResponseStarted(XID, 3, 200, ((b"content-type", b"application/json"),), False)
    )
    exchange.apply(ev.ResponseBodyChunk(XID, 4, b'{"a"', 4, True))
    assert (exchange.state, exchange.status) == ("streaming", 200)
    exchange.apply(ev.ResponseBodyChunk(XID, 5, b":1}", 3, False))
    exchange.apply(ev.ExchangeFinished(XID, 6, "completed", 1, 2, 5))
    assert exchange.state == "completed"
    assert bytes(exchange.response_body.data) == b'{"a":1}'
    assert (exchange.response_body.size, exchange.response_body.complete) == (7, True)
    assert exchange.request_body.complete is True
    assert exchange.url == "http://example.test/items?page=2"
    assert exchange.duration_ns == 5
    assert len(exchange.events) == 6


def test_truncated_bodies_know_it() -> None:
    exchange = fold([request_started(), ev.ResponseBodyChunk(XID, 2, b"ab", 10, False)])[XID]
    assert exchange.response_body.truncated
    assert (bytes(exchange.response_body.data), exchange.response_body.size) == (b"ab", 10)


def test_failed_exchange_keeps_the_error() -> None:
    failure = ev.AppFailed(XID, 3, "ValueError", "boom", "Traceback...", False)
    exchange = fold(
        [request_started(), failure, ev.ExchangeFinished(XID, 4, "failed", None, None, 3)]
    )[XID]
    assert exchange.state == "failed"
    assert exchange.error == failure
    assert exchange.status is None


def test_wsgi_restart_replaces_unsent_headers_only() -> None:
    restart = ev.ResponseRestarted(
        XID, 3, 500, ((b"content-type", b"text/plain"),), "Error", "ValueError()"
    )
    before_body = fold(
        [request_started(source="wsgi"), ev.ResponseStarted(XID, 2, 200, (), False, "OK"), restart]
    )
    assert before_body[XID].status == 500
    assert before_body[XID].restarts == [restart]
    after_body = fold(
        [
            request_started(source="wsgi"),
            ev.ResponseStarted(XID, 2, 200, (), False, "OK"),
            ev.ResponseBodyChunk(XID, 3, b"x", 1, True),
            restart,
        ]
    )
    assert after_body[XID].status == 200  # headers were sent: the server re-raised instead


def test_wsgi_body_is_complete_when_the_exchange_completed() -> None:
    events = [
        request_started(source="wsgi"),
        ev.ResponseStarted(XID, 2, 200, (), False, "OK"),
        ev.ResponseBodyChunk(XID, 3, b"x", 1, True),
        ev.ResponseBodyWritten(XID, 4, b"yz", 2),
        ev.IterableClosed(XID, 5),
        ev.ExchangeFinished(XID, 6, "completed", 0, 1, 6),
    ]
    exchange = fold(events)[XID]
    assert (bytes(exchange.response_body.data), exchange.response_body.complete) == (b"xyz", True)
    assert exchange.iterable_closed == 1


def test_websocket_conversation() -> None:
    exchange = fold(
        [
            request_started(kind="websocket"),
            ev.WebSocketHandshakeReceived(XID, 2),
            ev.WebSocketAccepted(XID, 3, None, ()),
            ev.WebSocketMessage(XID, 4, "client", "hi", None, 2),
            ev.WebSocketMessage(XID, 5, "server", None, b"\x01", 1),
        ]
    )[XID]
    assert (exchange.state, exchange.status, exchange.is_websocket) == ("open", 101, True)
    assert exchange.message_counts == {"client": 1, "server": 1}
    assert exchange.url == "ws://example.test/items?page=2"
    exchange.apply(ev.WebSocketClosed(XID, 6, "client", 1001, "going away", True))
    exchange.apply(ev.WebSocketClosed(XID, 7, "server", 1000, "", True))
    exchange.apply(ev.ExchangeFinished(XID, 8, "completed", None, 2, 7))
    assert exchange.state == "closed"
    assert exchange.closed is not None
    assert exchange.closed.code == 1001


def test_websocket_refusals() -> None:
    closed_early = fold(
        [request_started(kind="websocket"), ev.WebSocketClosed(XID, 2, "server", 1000, "", False)]
    )[XID]
    assert closed_early.status == 403
    denied = fold([request_started(kind="websocket"), ev.WebSocketDenied(XID, 2, 401, ())])[XID]
    assert denied.status == 401


def test_kept_events_and_messages_are_bounded_and_counted() -> None:
    exchange = Exchange(XID, max_events=3, max_messages=2)
    exchange.apply(request_started(kind="websocket"))
    for n in range(5):
        exchange.apply(ev.WebSocketMessage(XID, n, "client", str(n), None, 1))
    assert len(exchange.events) == 3
    assert exchange.events_dropped == 3
    assert [m.text for m in exchange.messages] == ["0", "1"]
    assert exchange.messages_dropped == 3
    assert exchange.message_counts["client"] == 5


def test_messages_without_their_payload_are_counted() -> None:
    exchange = fold(
        [
            request_started(kind="websocket"),
            ev.WebSocketMessage(XID, 2, "client", "", None, 0),  # empty: nothing to keep
            ev.WebSocketMessage(XID, 3, "server", None, b"\x01", 5),  # cut: a prefix kept
            ev.WebSocketMessage(XID, 4, "client", "", None, 300),  # past the budget
            ev.WebSocketMessage(XID, 5, "server", None, b"", 1 << 20),
        ]
    )[XID]
    assert (exchange.payloads_not_kept, exchange.payload_bytes_not_kept) == (2, 300 + (1 << 20))
    assert len(exchange.messages) == 4  # still listed, with their sizes


def test_fold_groups_by_exchange_and_skips_bus_events() -> None:
    other = "test-2"
    exchanges = fold(
        [
            request_started(),
            ev.EventsDropped("", 2, 5, 5, "bus"),
            ev.ClientDisconnected(other, 3),
            ev.ExchangeFinished(XID, 4, "completed", 0, 1, 4),
        ]
    )
    assert set(exchanges) == {XID, other}
    assert exchanges[other].client_disconnected
    assert exchanges[other].request is None
    assert exchanges[other].url == ""


def test_host_falls_back_to_the_server_address() -> None:
    no_host = replace(request_started(), headers=())
    assert fold([no_host])[XID].host == "127.0.0.1:8000"
