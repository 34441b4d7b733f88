"""Pairing, with no I/O: the proxy's and the app's exchanges of one request, as events."""

from __future__ import annotations

from inspector import events as ev
from inspector.observe.diff import diff, header_diff
from inspector.observe.filters import compile_filter
from inspector.observe.pairing import is_app_side, paired_app
from inspector.observe.store import Store

T0, WALL0 = 1_000_000_000, 1_700_000_000.0
LINK = ("127.0.0.1", 40001)
HEADERS = ((b"Host", b"shop"), (b"X-Forwarded-For", b"10.0.0.7"), (b"Accept", b"*/*"))


def started(
    xid: str,
    ms: float,
    source: ev.Source,
    client: ev.Address | None,
    path: str = "/a",
    headers: ev.Headers = HEADERS,
) -> ev.RequestStarted:
    at = T0 + int(ms * 1e6)
    return ev.RequestStarted(
        xid,
        at,
        source,
        "http",
        "GET",
        "http",
        "1.1",
        path,
        None,
        b"",
        headers,
        client,
        None,
        WALL0 + ms / 1e3,
        {},
    )


def proxy(xid: str, ms: float, link: ev.Address, seq: int, path: str = "/a") -> list[ev.Event]:
    at = T0 + int(ms * 1e6)
    return [
        started(xid, ms, "proxy", ("127.0.0.1", 5000), path),
        ev.RequestForwarded(xid, at + 100_000, link, ("127.0.0.1", 8000), seq),
        ev.ResponseStarted(xid, at + 3_000_000, 200, ((b"transfer-encoding", b"chunked"),), False),
        ev.ResponseBodyChunk(xid, at + 3_100_000, b"ok", 2, False),
        ev.ExchangeFinished(xid, at + 4_000_000, "completed", 0, 3_000_000, 4_000_000),
    ]


def app(xid: str, ms: float, client: ev.Address, path: str = "/a") -> list[ev.Event]:
    at = T0 + int(ms * 1e6)
    headers = tuple((n.lower(), v) for n, v in HEADERS)
    return [
        started(xid, ms, "asgi", client, path, headers),
        ev.ResponseStarted(xid, at + 2_000_000, 200, ((b"content-type", b"text/plain"),), False),
        ev.ResponseBodyChunk(xid, at + 2_100_000, b"ok", 2, False),
        ev.ExchangeFinished(xid, at + 2_500_000, "completed", 0, 2_000_000, 2_500_000, 40_000),
    ]


def test_the_same_connection_pairs_exactly_in_its_order() -> None:
    """Keep-alive: two requests on one upstream connection, each paired with its own."""
    store = Store()
    store.add(proxy("p-1", 0, LINK, 1) + proxy("p-2", 10, LINK, 2))
    store.add(app("a-2", 10.5, LINK) + app("a-1", 0.5, LINK))  # the app's batch comes later
    p1, p2, a1, a2 = (store.get(x) for x in ("p-1", "p-2", "a-1", "a-2"))
    assert p1 is not None
    assert p2 is not None
    assert a1 is not None
    assert a2 is not None
    assert paired_app(p1) is a1
    assert paired_app(p2) is a2
    assert p1.pair is not None
    assert p1.pair.how == "exact"
    assert is_app_side(a1)
    assert not is_app_side(p1)
    assert {x.id for x in store.repaired} == {"p-1", "p-2", "a-1", "a-2"}
    assert compile_filter("~paired")(p1)
    assert not compile_filter("!~paired")(p1)


def test_a_rewritten_client_pairs_by_content() -> None:
    """uvicorn took the client from X-Forwarded-For: port 0, no connection to go by."""
    store = Store()
    store.add(app("a-1", 0.5, ("10.0.0.7", 0)))
    store.add(proxy("p-1", 0, LINK, 1))
    p1 = store.get("p-1")
    assert p1 is not None
    assert p1.pair is not None
    assert (p1.pair.how, p1.pair.label) == ("content", "paired by content")


def test_unpaired_exchanges_say_why_once_their_time_is_past() -> None:
    store = Store()
    store.add(proxy("p-1", 0, LINK, 1, path="/never") + app("a-1", 1, ("127.0.0.1", 40002)))
    p1, a1 = store.get("p-1"), store.get("a-1")
    assert p1 is not None
    assert a1 is not None
    assert (p1.pair, p1.unpaired, a1.unpaired) == (None, "", "")  # still in their window
    store.add(
        proxy("p-9", 5000, ("127.0.0.1", 40009), 1) + app("a-9", 5000.5, ("127.0.0.1", 40009))
    )
    assert "the app recorded no request from 127.0.0.1:40001" in p1.unpaired
    assert "no proxy exchange went out from 127.0.0.1:40002" in a1.unpaired
    assert compile_filter("!~paired")(p1)


def test_another_method_or_path_is_no_content_pair() -> None:
    store = Store()
    store.add(proxy("p-1", 0, LINK, 1, path="/a") + app("a-1", 0.5, ("10.0.0.7", 0), path="/b"))
    p1 = store.get("p-1")
    assert p1 is not None
    assert p1.pair is None


def test_the_diff_shows_what_the_server_changed() -> None:
    store = Store()
    store.add(proxy("p-1", 0, LINK, 1) + app("a-1", 0.5, LINK))
    p1 = store.get("p-1")
    assert p1 is not None
    assert p1.pair is not None
    result = diff(p1.pair)
    request = {h.name: h for h in result.request_headers}
    assert request["x-forwarded-for"].change == "same"
    assert request["x-forwarded-for"].proxy_header
    response = {h.name: h for h in result.response_headers}
    assert response["transfer-encoding"].change == "removed"  # the server chunked it
    assert response["content-type"].change == "added"
    split = result.split
    assert (split.before, split.app, split.after, split.capture) == (
        500_000,
        2_500_000,
        1_000_000,
        40_000,
    )


def test_header_diff_sees_repeats_and_order() -> None:
    rows = header_diff(((b"A", b"1"), (b"B", b"2"), (b"B", b"3")), ((b"b", b"2"), (b"a", b"1")))
    assert [(r.name, r.change) for r in rows] == [("a", "moved"), ("b", "changed")]
