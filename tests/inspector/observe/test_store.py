"""The store: folding, arrival order, bounds by count and bytes, origins and drop counts."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from inspector import events as ev
from inspector.observe.store import Origin, Store, prefix_of
from tests.inspector.samples import request_started


def started(xid: str) -> ev.RequestStarted:
    return replace(request_started(), exchange_id=xid)


def test_add_reports_new_and_touched_exchanges() -> None:
    store = Store()
    new, touched = store.add([started("p-1"), started("p-2"), ev.ClientDisconnected("p-1", 9)])
    assert [x.id for x in new] == ["p-1", "p-2"]
    assert touched == {"p-1", "p-2"}
    new, touched = store.add([ev.ExchangeFinished("p-1", 10, "completed", 1, 2, 3)])
    assert new == []
    assert touched == {"p-1"}
    one = store.get("p-1")
    assert one is not None
    assert one.client_disconnected
    assert one.state == "completed"
    assert [x.id for x in store] == ["p-1", "p-2"]
    assert len(store) == 2
    assert "p-2" in store


def test_the_oldest_exchanges_go_first_past_the_count() -> None:
    store = Store(max_exchanges=3)
    new, _ = store.add([started(f"p-{n}") for n in range(5)])
    assert [x.id for x in store] == ["p-2", "p-3", "p-4"]
    assert [x.id for x in new] == ["p-2", "p-3", "p-4"]
    assert store.evicted == 2


def test_bytes_bound_counts_exchanges_events_and_bodies() -> None:
    per_start = 2048 + 1536  # an exchange, and its first event
    store = Store(max_bytes=3 * per_start + 1536 + 1000)
    # 450 body bytes cost 900: held by the event and by the body it is appended to.
    store.add([started("p-1"), ev.ResponseBodyChunk("p-1", 1, b"x" * 450, 5000, True)])
    store.add([started("p-2"), started("p-3")])
    assert len(store) == 3
    store.add([ev.WebSocketMessage("p-3", 2, "client", "y" * 200, None, 200)])
    assert [x.id for x in store] == ["p-2", "p-3"]
    assert store.bytes == 2 * per_start + 1536 + 200


def test_origins_connections_and_drops() -> None:
    store = Store()
    store.add(
        [
            ev.PeerConnected("", 1, "aa11", "web-1", 101, "gunicorn"),
            ev.PeerConnected("", 1, "bb22", "web-1", 102, "gunicorn"),
            started("aa11-1"),
            ev.EventsDropped("", 2, 7, 7, "sink"),
            ev.PeerDisconnected("", 3, "bb22", "disconnected"),
            ev.CaptureFailed("", 4, "observer", "AsgiScope: bad"),
            ev.CaptureFailed("aa11-1", 5, "asgi", "TypeError: boom"),
        ]
    )
    assert store.capture_failures == 2
    assert store.origin("aa11-1") == Origin("web-1", 101, "gunicorn")
    assert str(store.origin("aa11-1")) == "gunicorn[101]"
    assert store.origin("cc33-1") is None
    assert prefix_of("aa11-42") == "aa11"
    assert store.connected == {"aa11"}
    assert store.events_dropped == 7
    store.clear()
    assert len(store) == 0
    assert store.bytes == 0


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Store(max_exchanges=0)


def test_late_events_of_evicted_or_cleared_exchanges_are_dropped_and_counted() -> None:
    store = Store(max_exchanges=2)
    store.add([started("ws-1"), started("p-2"), started("p-3")])  # ws-1 is evicted
    new, touched = store.add([ev.WebSocketMessage("ws-1", 5, "client", "hi", None, 2)])
    assert (new, touched, store.forgotten) == ([], set(), 1)
    assert "ws-1" not in store
    store.clear()
    store.add([ev.ExchangeFinished("p-3", 9, "completed", 1, 2, 3)])
    assert len(store) == 0
    assert store.forgotten == 2


def test_a_reconnecting_peer_stays_connected() -> None:
    store = Store()
    store.add(
        [
            ev.PeerConnected("", 1, "aa11", "web-1", 101, "gunicorn"),
            ev.PeerConnected("", 2, "aa11", "web-1", 101, "gunicorn"),  # the new connection
            ev.PeerDisconnected("", 3, "aa11", "disconnected"),  # the old one, late
        ]
    )
    assert store.connected == {"aa11"}
