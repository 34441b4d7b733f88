"""Records become events: pure, no threads, no sockets, fixed ids and clocks.

Each record goes through the encoder and the decoder first, as it would between a capture
point and the observer: tuples arrive as lists, objects as `"<TypeName>"`.
"""

from __future__ import annotations

import io
import json
from typing import Any

import msgspec
import pytest

from inspector import codec
from inspector import events as ev
from inspector import records as rec
from inspector.observe import build
from inspector.observe.build import Builder

XID = "p-1"
OFFSET = 1_700_000_000 * 10**9
"""The recording process's wall clock minus its monotonic clock."""


def wire(*fields: Any) -> rec.Record:
    return rec.decode_record(rec.encode(fields))


def built(*records: tuple[Any, ...], builder: Builder | None = None) -> list[ev.Event]:
    builder = builder or Builder(OFFSET)
    return builder.build([wire(*fields) for fields in records])


def one(*fields: Any) -> ev.Event:
    (event,) = built(fields)
    return event


class Database:
    def __repr__(self) -> str:
        raise AssertionError("the observer never sees the app's objects")


# -- ASGI ---------------------------------------------------------------------------------------


def asgi_scope(**extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/café",
        "raw_path": b"/caf%C3%A9",
        "root_path": "",
        "query_string": b"a=1&b=\xff",
        "headers": [(b"host", b"example.test"), (b"X-Raw", b"\xff\x00"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {"db": Database(), "ids": (1, 2)},
        "extensions": {"http.response.trailers": {}},
        **extra,
    }


def test_an_asgi_scope_becomes_request_started() -> None:
    event = one(rec.ASGI_SCOPE, XID, 1_000, asgi_scope())
    assert event == ev.RequestStarted(
        XID,
        1_000,
        source="asgi",
        kind="http",
        method="POST",
        scheme="https",
        http_version="1.1",
        path="/café",
        raw_path=b"/caf%C3%A9",
        query=b"a=1&b=\xff",
        headers=((b"host", b"example.test"), (b"X-Raw", b"\xff\x00"), (b"accept", b"*/*")),
        client=("127.0.0.1", 50000),
        server=("127.0.0.1", 8000),
        wall_time=(OFFSET + 1_000) / 1e9,
        snapshot={
            # Without its headers (they are above); bytes as latin-1 text; stand-ins kept.
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "https",
            "path": "/café",
            "raw_path": "/caf%C3%A9",
            "root_path": "",
            "query_string": "a=1&b=\xff",
            "client": ["127.0.0.1", 50000],
            "server": ["127.0.0.1", 8000],
            "state": {"db": "<Database>", "ids": [1, 2]},
            "extensions": {"http.response.trailers": {}},
        },
    )
    assert codec.loads(codec.dumps(event)) == event  # the snapshot is JSON as it is


def test_a_websocket_scope_defaults_to_ws() -> None:
    scope = asgi_scope(type="websocket")
    del scope["scheme"], scope["method"]
    event = one(rec.ASGI_SCOPE, XID, 1_000, scope)
    assert isinstance(event, ev.RequestStarted)
    assert (event.kind, event.scheme, event.method) == ("websocket", "ws", "GET")


def test_a_granian_scope_is_normalised() -> None:
    # Ports as strings, lists for tuples, str header pairs, optional keys missing.
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "query_string": "",
        "headers": [["host", "example.test"], ["x-name", "café"], ["x-sign", "€"]],
        "server": ["127.0.0.1", "8000"],
    }
    event = one(rec.ASGI_SCOPE, XID, 1_000, scope)
    assert isinstance(event, ev.RequestStarted)
    assert event.headers == (
        (b"host", b"example.test"),
        (b"x-name", b"caf\xe9"),  # str headers are latin-1
        (b"x-sign", b"?"),  # which cannot hold this
    )
    assert (event.server, event.client) == (("127.0.0.1", 8000), None)
    assert (event.raw_path, event.query, event.http_version) == (None, b"", "1.1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (("h", 1), ("h", 1)),
        (["h", "8000"], ("h", 8000)),
        (["/run/app.sock", None], ("/run/app.sock", None)),
        (["h", "http"], ("h", None)),
        (["h", "-1"], ("h", None)),
        (["h", 70000], ("h", None)),
        ([None, 80], None),
        (["h"], None),
        (["h", 1, 2], None),
        ("h:1", None),
        (None, None),
    ],
)
def test_addresses_as_servers_send_them(value: Any, expected: ev.Address | None) -> None:
    assert build.address(value) == expected


def test_asgi_messages_become_events() -> None:
    events = built(
        (rec.ASGI_SCOPE, XID, 1_000, asgi_scope()),
        (rec.ASGI_RECEIVED, XID, 1_100, {"type": "http.request", "body": b"ab", "more_body": True}),
        (rec.ASGI_RECEIVED, XID, 1_200, {"type": "http.request", "body": b"cd"}, 10),
        (rec.ASGI_RECEIVED, XID, 1_300, {"type": "http.disconnect"}),
        (
            rec.ASGI_SENT,
            XID,
            1_400,
            {"type": "http.response.start", "status": 200, "trailers": True},
        ),
        (
            rec.ASGI_SENT,
            XID,
            1_500,
            {"type": "http.response.body", "body": b"xy", "more_body": True},
        ),
        (rec.ASGI_SENT, XID, 1_600, {"type": "http.response.body"}),
        (
            rec.ASGI_SENT,
            XID,
            1_700,
            {"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]},
        ),
        (rec.ASGI_SENT, XID, 1_800, {"type": "http.response.push", "path": "/x"}),
        (rec.ASGI_SENT, XID, 1_900, {"type": "http.response.pathsend", "path": "/srv/f"}),
        (rec.FAILED, XID, 1_950, "ValueError", "bad", "Traceback ..."),
        (rec.FINISHED, XID, 2_000, "failed"),
    )
    assert events[1:] == [
        ev.RequestBodyChunk(XID, 1_100, b"ab", 2, True),
        ev.RequestBodyChunk(XID, 1_200, b"cd", 10, False),  # capture kept 2 bytes of 10
        ev.ClientDisconnected(XID, 1_300),
        ev.ResponseStarted(XID, 1_400, 200, (), True),
        ev.ResponseBodyChunk(XID, 1_500, b"xy", 2, True),
        ev.ResponseBodyChunk(XID, 1_600, b"", 0, False),
        ev.ResponseTrailers(XID, 1_700, ((b"x-sum", b"1"),), False),
        ev.MessageRelayed(XID, 1_800, "send", "http.response.push"),
        ev.ResponseFileSent(XID, 1_900, "pathsend", "/srv/f", None, None, False),
        ev.AppFailed(XID, 1_950, "ValueError", "bad", "Traceback ...", True),
        ev.ExchangeFinished(XID, 2_000, "failed", 200, 400, 1_000),
    ]


def test_an_asgi_websocket_conversation() -> None:
    scope = asgi_scope(type="websocket", scheme="ws")
    events = built(
        (rec.ASGI_SCOPE, XID, 1_000, scope),
        (rec.ASGI_RECEIVED, XID, 1_100, {"type": "websocket.connect"}),
        (rec.ASGI_SENT, XID, 1_200, {"type": "websocket.accept", "subprotocol": "chat"}),
        (rec.ASGI_RECEIVED, XID, 1_300, {"type": "websocket.receive", "text": "héllo"}),
        (rec.ASGI_SENT, XID, 1_400, {"type": "websocket.send", "bytes": b"\x01"}, 100),
        (rec.ASGI_SENT, XID, 1_450, {"type": "websocket.send", "text": ""}),
        (rec.ASGI_RECEIVED, XID, 1_500, {"type": "websocket.disconnect", "code": 1001}),
        (rec.FINISHED, XID, 1_600, "completed"),
    )
    assert events[1:] == [
        ev.WebSocketHandshakeReceived(XID, 1_100),
        ev.WebSocketAccepted(XID, 1_200, "chat", ()),
        ev.WebSocketMessage(XID, 1_300, "client", "héllo", None, 6),
        ev.WebSocketMessage(XID, 1_400, "server", None, b"\x01", 100),
        ev.WebSocketMessage(XID, 1_450, "server", "", None, 0),
        ev.WebSocketClosed(XID, 1_500, "client", 1001, "", True),
        ev.ExchangeFinished(XID, 1_600, "completed", None, 200, 600),
    ]


def test_an_asgi_websocket_denied_or_closed_before_accepting() -> None:
    scope = asgi_scope(type="websocket")
    events = built(
        (rec.ASGI_SCOPE, XID, 1_000, scope),
        (rec.ASGI_SENT, XID, 1_100, {"type": "websocket.close", "reason": "no"}),
        (rec.ASGI_SCOPE, "p-2", 2_000, scope),
        (rec.ASGI_SENT, "p-2", 2_100, {"type": "websocket.http.response.start", "status": 403}),
    )
    assert events[1] == ev.WebSocketClosed(XID, 1_100, "server", 1000, "no", False)
    assert events[3] == ev.WebSocketDenied("p-2", 2_100, 403, ())


# -- WSGI ---------------------------------------------------------------------------------------


def environ(**extra: Any) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/caf\xc3\xa9",  # PEP 3333: the bytes of UTF-8, decoded as latin-1
        "QUERY_STRING": "a=1",
        "HTTP_HOST": "example.test",
        "CONTENT_TYPE": "text/plain",
        "HTTP_ACCEPT": "text/html, */*",  # the server joined two Accept headers
        "CONTENT_LENGTH": "5",
        "HTTP_X_FORWARDED_FOR": "10.0.0.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "RAW_URI": "/app/caf%C3%A9?a=1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b"hello"),
        "wsgi.errors": Database(),
        "wsgi.multithread": True,
        **extra,
    }


def test_a_wsgi_environ_becomes_request_started() -> None:
    event = one(rec.WSGI_ENVIRON, XID, 1_000, environ())
    assert event == ev.RequestStarted(
        XID,
        1_000,
        source="wsgi",
        kind="http",
        method="POST",
        scheme="http",
        http_version="1.1",
        path="/app/café",
        raw_path=b"/app/caf%C3%A9",
        query=b"a=1",
        # In the environ's order, each as the server gave it.
        headers=(
            (b"host", b"example.test"),
            (b"content-type", b"text/plain"),
            (b"accept", b"text/html, */*"),
            (b"content-length", b"5"),
            (b"x-forwarded-for", b"10.0.0.1"),
        ),
        client=("127.0.0.1", 50000),
        server=("localhost", 8000),
        wall_time=(OFFSET + 1_000) / 1e9,
        snapshot={
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "/app",
            "PATH_INFO": "/caf\xc3\xa9",
            "QUERY_STRING": "a=1",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "50000",
            "RAW_URI": "/app/caf%C3%A9?a=1",
            "wsgi.version": [1, 0],
            "wsgi.url_scheme": "http",
            "wsgi.input": "<BytesIO>",
            "wsgi.errors": "<Database>",
            "wsgi.multithread": True,
        },
    )


def test_a_minimal_wsgi_environ() -> None:
    minimal = {"REQUEST_METHOD": "GET", "CONTENT_TYPE": "", "wsgi.input": io.BytesIO()}
    event = one(rec.WSGI_ENVIRON, XID, 1_000, minimal)
    assert isinstance(event, ev.RequestStarted)
    assert (event.path, event.raw_path, event.query, event.headers) == ("", None, b"", ())
    assert (event.http_version, event.scheme, event.client) == ("1.0", "http", None)
    assert event.snapshot["CONTENT_TYPE"] == ""  # empty means not sent: not a header


def test_wsgi_records_become_events() -> None:
    headers = [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    events = built(
        (rec.WSGI_ENVIRON, XID, 1_000, environ()),
        (rec.BODY_READ, XID, 1_100, b"hel", 3, True),
        (rec.BODY_READ, XID, 1_200, b"lo", 2, False),
        (rec.WSGI_STARTED, XID, 1_300, "200 OK", headers),
        (rec.BODY_SENT, XID, 1_400, b"x", 1, True),
        (rec.BODY_WRITTEN, XID, 1_450, b"yz", 2),
        (rec.WSGI_STARTED, XID, 1_460, "500 Internal Server Error", [], "ValueError('x')"),
        (rec.ITERABLE_CLOSED, XID, 1_470),
        (rec.FILE_WRAPPED, XID, 1_480, "/srv/f"),
        (rec.FINISHED, XID, 1_500, "completed"),
    )
    assert events[1:] == [
        ev.RequestBodyChunk(XID, 1_100, b"hel", 3, True),
        ev.RequestBodyChunk(XID, 1_200, b"lo", 2, False),
        ev.ResponseStarted(
            XID,
            1_300,
            200,
            ((b"Content-Type", b"text/plain"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2")),
            False,
            "OK",
        ),
        ev.ResponseBodyChunk(XID, 1_400, b"x", 1, True),
        ev.ResponseBodyWritten(XID, 1_450, b"yz", 2),
        ev.ResponseRestarted(XID, 1_460, 500, (), "Internal Server Error", "ValueError('x')"),
        ev.IterableClosed(XID, 1_470),
        ev.ResponseFileSent(XID, 1_480, "wsgi.file_wrapper", "/srv/f", None, None, False),
        ev.ExchangeFinished(XID, 1_500, "completed", 200, 300, 500),
    ]


# -- timings ------------------------------------------------------------------------------------


def finished(*records: tuple[Any, ...]) -> ev.ExchangeFinished:
    event = built(*records)[-1]
    assert isinstance(event, ev.ExchangeFinished)
    return event


def test_asgi_timings() -> None:
    scope = (rec.ASGI_SCOPE, XID, 1_000, asgi_scope())
    body = (rec.ASGI_RECEIVED, XID, 1_250, {"type": "http.request", "body": b"x"})
    start = (rec.ASGI_SENT, XID, 1_600, {"type": "http.response.start", "status": 204})
    end = (rec.FINISHED, XID, 2_000, "completed")
    assert finished(scope, body, start, end).request_ns == 250
    assert finished(scope, body, start, end).first_byte_ns == 600
    assert finished(scope, body, start, end).total_ns == 1_000
    # The app never read the whole body, and never answered.
    assert finished(scope, end) == ev.ExchangeFinished(XID, 2_000, "completed", None, None, 1_000)


def test_wsgi_timings() -> None:
    no_body = environ(CONTENT_LENGTH="")
    start = (rec.WSGI_STARTED, XID, 1_300, "200 OK", [])
    end = (rec.FINISHED, XID, 1_500, "completed")
    # No body to read: the request was all there when the app was called.
    assert finished((rec.WSGI_ENVIRON, XID, 1_000, no_body), start, end) == ev.ExchangeFinished(
        XID, 1_500, "completed", 0, 300, 500
    )
    with_body = (rec.WSGI_ENVIRON, XID, 1_000, environ())
    read = (rec.BODY_READ, XID, 1_100, b"hello", 5, False)
    assert finished(with_body, read, start, end).request_ns == 100
    assert finished(with_body, start, end).request_ns is None  # never read it all
    chunked = environ(CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    assert finished((rec.WSGI_ENVIRON, XID, 1_000, chunked), end).request_ns is None


def test_proxy_timings() -> None:
    head = b"GET /items?page=2 HTTP/1.1\r\nHost: example.test\r\n\r\n"
    client, server = ("127.0.0.1", 50000), ("127.0.0.1", 8000)
    events = built(
        (rec.PROXY_REQUEST, XID, 1_000, head, False, client, server, {"upstream": "u"}),
        (rec.PROXY_RESPONSE, XID, 1_400, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (rec.FINISHED, XID, 1_800, "completed"),
    )
    started, response, done = events
    assert isinstance(started, ev.RequestStarted)
    assert (started.source, started.path, started.query) == ("proxy", "/items", b"page=2")
    assert response == ev.ResponseStarted(
        XID, 1_400, 200, ((b"Content-Length", b"0"),), False, "OK"
    )
    assert done == ev.ExchangeFinished(XID, 1_800, "completed", 0, 400, 800)


def test_an_unknown_outcome_is_a_failure_and_an_unknown_exchange_has_no_timings() -> None:
    assert one(rec.FINISHED, "p-9", 5, "exploded") == ev.ExchangeFinished(
        "p-9", 5, "failed", None, None, 0
    )


def test_the_open_exchanges_a_builder_remembers_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(build, "MAX_OPEN", 2)
    builder = Builder(OFFSET)
    for n in range(3):
        built((rec.ASGI_SCOPE, f"p-{n}", 1_000 + n, asgi_scope()), builder=builder)
    assert list(builder.open) == ["p-1", "p-2"]
    (oldest,) = built((rec.FINISHED, "p-0", 2_000, "completed"), builder=builder)
    assert oldest == ev.ExchangeFinished("p-0", 2_000, "completed", None, None, 0)
    (newest,) = built((rec.FINISHED, "p-2", 2_000, "completed"), builder=builder)
    assert newest == ev.ExchangeFinished("p-2", 2_000, "completed", None, None, 998)
    assert list(builder.open) == ["p-1"]  # a finished exchange is forgotten


# -- redaction ----------------------------------------------------------------------------------

SECRETS = [b"authorization", b"set-cookie", b"x-sum"]


def test_redaction_masks_asgi_request_response_and_trailers() -> None:
    scope = asgi_scope(headers=[(b"Authorization", b"Bearer t"), (b"accept", b"*/*")])
    events = built(
        (rec.ASGI_SCOPE, XID, 1_000, scope, SECRETS),
        (
            rec.ASGI_SENT,
            XID,
            1_100,
            {"type": "http.response.start", "status": 200, "headers": [(b"Set-Cookie", b"s=1")]},
            -1,
            SECRETS,
        ),
        (
            rec.ASGI_SENT,
            XID,
            1_200,
            {"type": "http.response.trailers", "headers": [(b"X-Sum", b"1")]},
            -1,
            SECRETS,
        ),
        (rec.ASGI_SCOPE, "p-2", 2_000, scope),  # another exchange, no redaction asked
    )
    started, response, trailers, other = events
    assert isinstance(started, ev.RequestStarted)
    assert started.headers == ((b"Authorization", b"[redacted]"), (b"accept", b"*/*"))
    assert "Bearer t" not in json.dumps(started.snapshot)
    assert isinstance(response, ev.ResponseStarted)
    assert response.headers == ((b"Set-Cookie", b"[redacted]"),)
    assert isinstance(trailers, ev.ResponseTrailers)
    assert trailers.headers == ((b"X-Sum", b"[redacted]"),)
    assert isinstance(other, ev.RequestStarted)
    assert other.headers[0] == (b"Authorization", b"Bearer t")


def test_redaction_masks_wsgi_headers_and_the_environ() -> None:
    secret = environ(HTTP_AUTHORIZATION="Bearer t", HTTP_COOKIE="sid=1")
    events = built(
        (rec.WSGI_ENVIRON, XID, 1_000, secret, [b"authorization", b"cookie", b"set-cookie"]),
        (
            rec.WSGI_STARTED,
            XID,
            1_100,
            "200 OK",
            [("Set-Cookie", "s=1"), ("X", "y")],
            None,
            [b"set-cookie"],
        ),
    )
    started, response = events
    assert isinstance(started, ev.RequestStarted)
    assert (b"authorization", b"[redacted]") in started.headers
    assert (b"cookie", b"[redacted]") in started.headers
    assert "Bearer t" not in codec.dumps(started).decode()
    assert "sid=1" not in json.dumps(started.snapshot)
    assert isinstance(response, ev.ResponseStarted)
    assert response.headers == ((b"Set-Cookie", b"[redacted]"), (b"X", b"y"))


def test_redaction_needs_no_memory_of_the_exchange() -> None:
    """A viewer restarted mid-exchange never saw its start: each record says what to mask."""
    start = {"type": "http.response.start", "status": 200, "headers": [(b"set-cookie", b"s")]}
    (response,) = built((rec.ASGI_SENT, XID, 1_100, start, -1, [b"set-cookie"]))
    assert isinstance(response, ev.ResponseStarted)
    assert response.headers == ((b"set-cookie", b"[redacted]"),)
    head = b"HTTP/1.1 200 OK\r\nSet-Cookie: s\r\n"
    (proxied,) = built((rec.PROXY_RESPONSE, XID, 1_100, head, False, [b"set-cookie"]))
    assert isinstance(proxied, ev.ResponseStarted)
    assert proxied.headers == ((b"Set-Cookie", b"[redacted]"),)


def test_mask_environ_masks_http_keys() -> None:
    snapshot = {"HTTP_AUTHORIZATION": "Bearer t", "HTTP_X_API_KEY": "k", "PATH_INFO": "/"}
    masked = build._mask_environ(snapshot, frozenset({b"authorization", b"x-api-key"}))
    assert masked == {
        "HTTP_AUTHORIZATION": "[redacted]",
        "HTTP_X_API_KEY": "[redacted]",
        "PATH_INFO": "/",
    }


# -- records that cannot be understood ----------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "kind", "error"),
    [
        ((rec.ASGI_SENT, XID, 1_100, {"type": "http.response.start"}), "AsgiSent", "'status'"),
        (
            (rec.ASGI_SENT, XID, 1_100, {"type": "http.response.body", "body": "text"}),
            "AsgiSent",
            "a body must be bytes, not str",
        ),
        (
            (rec.ASGI_RECEIVED, XID, 1_100, {"type": "http.request", "body": 5}),
            "AsgiReceived",
            "a body must be bytes, not int",
        ),
        (
            (
                rec.ASGI_SENT,
                XID,
                1_100,
                {"type": "http.response.start", "status": 200, "headers": [(b"a", 1)]},
            ),
            "AsgiSent",
            "a header name or value must be bytes, not int",
        ),
        ((rec.WSGI_STARTED, XID, 1_100, "OK", []), "WsgiStarted", "invalid literal"),
        ((rec.WSGI_STARTED, XID, 1_100, "200 OK", "<Headers>"), "WsgiStarted", "unpack"),
    ],
    ids=["no-status", "str-body", "int-body", "int-header", "bad-status", "bad-headers"],
)
def test_a_record_that_cannot_be_understood_costs_only_itself(
    bad: tuple[Any, ...], kind: str, error: str
) -> None:
    builder = Builder(OFFSET)
    events = built(
        (rec.ASGI_SCOPE, XID, 1_000, asgi_scope()),
        bad,
        (rec.ASGI_SENT, XID, 1_200, {"type": "http.response.body", "body": b"ok"}),
        (rec.FINISHED, XID, 1_300, "completed"),
        builder=builder,
    )
    started, failed, body, done = events
    assert isinstance(started, ev.RequestStarted)
    assert isinstance(failed, ev.CaptureFailed)
    assert (failed.exchange_id, failed.at_ns, failed.where) == (XID, 1_100, "observer")
    assert failed.error.startswith(f"{kind}: ")
    assert error in failed.error
    assert body == ev.ResponseBodyChunk(XID, 1_200, b"ok", 2, False)
    assert isinstance(done, ev.ExchangeFinished)
    assert done.total_ns == 300
    assert builder.failures == 1


@pytest.mark.parametrize(
    ("fields", "name", "xid"),
    [
        ((99, "p-1", 5), "record 99", "p-1"),
        ((rec.CLIENT_GONE, "p-1", "soon"), "ClientGone", "p-1"),
        ((rec.BODY_SENT, "p-1", 5, "not bytes", 1, False), "BodySent", "p-1"),
        (("x",), "a record", ""),
        ({"a": 1}, "a record", ""),
    ],
)
def test_a_record_that_does_not_decode_is_named_as_well_as_it_can_be(
    fields: Any, name: str, xid: str
) -> None:
    raw = msgspec.Raw(msgspec.msgpack.encode(fields))
    with pytest.raises(msgspec.ValidationError) as info:
        rec.decode_record(raw)
    builder = Builder(OFFSET)
    failed = builder.unreadable(raw, info.value)
    assert (failed.exchange_id, failed.where) == (xid, "observer")
    assert failed.error.startswith(f"{name}: ")
    assert builder.failures == 1


def test_a_capture_failure_and_a_drop_report_become_events() -> None:
    events = built(
        (rec.CAPTURE_FAILED, XID, 5, "send", "KeyError('status')"),
        (rec.DROPPED, 3, 10, "sink"),
        (rec.CLIENT_GONE, XID, 6),
    )
    assert events[0] == ev.CaptureFailed(XID, 5, "send", "KeyError('status')")
    dropped = events[1]
    assert isinstance(dropped, ev.EventsDropped)
    assert (dropped.exchange_id, dropped.count, dropped.total, dropped.where) == ("", 3, 10, "sink")
    assert events[2] == ev.ClientDisconnected(XID, 6)
