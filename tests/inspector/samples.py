"""Deterministic events for tests: fixed ids and clocks, one instance of every event type."""

from __future__ import annotations

from inspector import events as ev

XID = "test-1"


def request_started(
    kind: str = "http", source: str = "asgi", path: str = "/items"
) -> ev.RequestStarted:
    return ev.RequestStarted(
        XID,
        1_000,
        source=source,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        method="GET",
        scheme="ws" if kind == "websocket" else "http",
        http_version="1.1",
        path=path,
        raw_path=path.encode(),
        query=b"page=2",
        headers=((b"host", b"example.test"), (b"accept", b"*/*")),
        client=("127.0.0.1", 50000),
        server=("127.0.0.1", 8000),
        wall_time=1_700_000_000.0,
        snapshot={"type": kind, "path": path, "state": {"n": [1, 2]}},
    )


def one_of_each() -> list[ev.Event]:
    return [
        request_started(),
        ev.RequestBodyChunk(XID, 1, b"\x00body", 5, True),
        ev.ResponseStarted(XID, 2, 200, ((b"set-cookie", b"a"), (b"set-cookie", b"b")), True, "OK"),
        ev.ResponseRestarted(
            XID,
            3,
            500,
            ((b"content-type", b"text/plain"),),
            "Internal Server Error",
            "ValueError()",
        ),
        ev.ResponseBodyChunk(XID, 4, b"", 0, False),
        ev.ResponseBodyWritten(XID, 5, b"written", 7),
        ev.ResponseFileSent(XID, 6, "pathsend", "/tmp/f", None, None, False),
        ev.ResponseTrailers(XID, 7, ((b"x-sum", b"1"),), False),
        ev.MessageRelayed(XID, 8, "send", "http.response.push"),
        ev.ClientDisconnected(XID, 9),
        ev.AppFailed(XID, 10, "ValueError", "bad", "Traceback ...", True),
        ev.IterableClosed(XID, 11),
        ev.ExchangeFinished(XID, 12, "completed", 5, 7, 12),
        ev.WebSocketHandshakeReceived(XID, 13),
        ev.WebSocketAccepted(XID, 14, "chat", ((b"x", b"y"),)),
        ev.WebSocketMessage(XID, 15, "client", "", None, 0),
        ev.WebSocketClosed(XID, 16, "server", 4001, "bye", True),
        ev.WebSocketDenied(XID, 17, 401, ()),
        ev.CaptureFailed(XID, 18, "send", "KeyError('status')"),
        ev.EventsDropped("", 19, 3, 10, "bus"),
        ev.PeerConnected("", 20, "0a1b2c", "web-1", 4242, "gunicorn"),
        ev.PeerDisconnected("", 21, "0a1b2c", "disconnected"),
        ev.TrafficHeld(XID, 22, 1, "message", "client", 1, b"", b"hi", 2, ""),
        ev.HoldReleased(XID, 23, 1, "timed out"),
        ev.RequestForwarded(XID, 24, ("127.0.0.1", 40312), ("127.0.0.1", 8000), 1),
        ev.TrafficEdited(XID, 25, 2, "request", b"PUT /q HTTP/1.1\r\nHost: a\r\n", b"new"),
    ]
