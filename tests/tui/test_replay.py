"""Replay on the wire: what a raw-socket server on 127.0.0.1 receives when a captured request
is replayed, byte for byte, for a proxy capture (the head the client wrote) and for middleware
captures (the headers as the server gave them to the app); the row the replay makes is
selected, and the notification says how the headers were sent."""

from __future__ import annotations

import asyncio

import msgspec

from inspector import EventBus
from inspector import events as ev
from inspector.observe.exchange import fold
from inspector.observe.replay import prepare
from inspector.proxy import Proxy, ProxyConfig
from inspector.redact import REDACTED
from tests.tui.pilot import SIZE, until
from tui.app import InspectorApp
from tui.scenarios import WEB1, scripted
from tui.widgets.cells import is_replay

# Odd name case, duplicates, no Accept-Encoding and no Connection: what replay must not change.
HEAD = (
    b"POST /api/Items?page=2&q=%41 HTTP/1.1\r\n"
    b"Host: shop.example\r\n"
    b"X-Odd-CASE: One\r\n"
    b"x-dup: 1\r\n"
    b"X-Dup: 2\r\n"
    b"content-TYPE: application/json\r\n"
    b"Content-Length: 11\r\n"
    b"\r\n"
)
BODY = b'{"a": true}'


class RawServer:
    """Answers every request 200 with a 2-byte body, keeping the connection open (so a
    replay that waited for the close would hang), and keeps the bytes of each request."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                self.requests.append(head + await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Up: yes\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


async def test_a_proxy_capture_is_replayed_with_the_head_the_client_wrote() -> None:
    upstream = RawServer()
    port = await upstream.start()
    bus = EventBus()
    proxy = Proxy(ProxyConfig(("127.0.0.1", port), ("127.0.0.1", 0)), bus)
    app = InspectorApp(replay_base=f"http://127.0.0.1:{port}")
    bus.subscribe(app.feed)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await proxy.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(HEAD + BODY)
            await reader.readuntil(b"ok")
            writer.close()
            rows = app.exchanges.list
            await until(pilot, lambda: len(rows.rows) == 1 and rows.rows[0].finished is not None)
            assert upstream.requests == [HEAD + BODY], "the proxy forwards the head unchanged"
            await pilot.press("r")
            await until(pilot, lambda: len(upstream.requests) == 2)
            assert upstream.requests[1] == HEAD + BODY
            await until(pilot, lambda: len(rows.rows) == 2 and rows.rows[1].finished is not None)
            replay = rows.rows[1]
            assert is_replay(replay)
            assert replay.status == 200
            assert bytes(replay.response_body.data) == b"ok"
            assert rows.current is replay, "the replay's row is selected"
            await until(pilot, lambda: bool(_notified(app, "Replay")))
            message = _notified(app, "Replay")[0]
            assert "as the proxy captured them" in message
            assert replay.id not in message, "no id the list does not show"
    finally:
        await proxy.close()
        bus.close()
        upstream.close()


async def test_an_asgi_capture_is_replayed_with_its_headers_as_the_server_gave_them() -> None:
    upstream = RawServer()
    port = await upstream.start()
    headers = ((b"x-dup", b"1"), (b"x-dup", b"2"), (b"content-length", b"3"))
    asgi = scripted(f"{WEB1}-1").request("PUT", "/api/items/2", headers=headers, body=b"abc")
    app = InspectorApp(replay_base=f"http://127.0.0.1:{port}")
    app.feed(asgi.events)
    try:
        async with app.run_test(size=SIZE) as pilot:
            rows = app.exchanges.list
            await until(pilot, lambda: len(rows.rows) == 1)
            await pilot.press("r")
            await until(pilot, lambda: bool(_notified(app, "Replay")))
            assert upstream.requests == [
                b"PUT /api/items/2 HTTP/1.1\r\n"
                b"host: shop.example:8000\r\n"
                b"user-agent: curl/8.5.0\r\n"
                b"accept: */*\r\n"
                b"x-dup: 1\r\n"
                b"x-dup: 2\r\n"
                b"content-length: 3\r\n"
                b"\r\n"
                b"abc"
            ]
            message = _notified(app, "Replay")[0]
            assert "lower-cased" in message
            assert "ASGI server" in message
            await until(pilot, lambda: len(rows.rows) == 2)
            assert rows.current is rows.rows[1]
    finally:
        upstream.close()


async def test_a_wsgi_capture_says_its_names_and_duplicates_were_lost() -> None:
    upstream = RawServer()
    port = await upstream.start()
    wsgi = scripted("w-1").request("GET", "/report", source="wsgi")
    app = InspectorApp(replay_base=f"http://127.0.0.1:{port}")
    app.feed(wsgi.events)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(app.exchanges.list.rows) == 1)
            await pilot.press("r")
            await until(pilot, lambda: bool(_notified(app, "Replay")))
            assert upstream.requests[0].startswith(
                b"GET /report HTTP/1.1\r\nhost: shop.example:8000\r\n"
            )
            message = _notified(app, "Replay")[0]
            assert "WSGI environ" in message
            assert "joined" in message
    finally:
        upstream.close()


def _notified(app: InspectorApp, title: str) -> list[str]:
    return [n.message for n in app._notifications if n.title == title]


def test_only_what_the_body_needs_is_changed_and_each_change_is_said() -> None:
    chunked = scripted("c-1").request(
        "POST", "/up", source="proxy", headers=((b"Transfer-Encoding", b"chunked"),), body=b"hi"
    )
    cut = scripted("cut-1").request(
        "POST", "/up", source="proxy", headers=((b"Content-Length", b"10"),), body=b"abc"
    )
    cut.events[-1] = ev.RequestBodyChunk("cut-1", cut.at(1), b"abc", 10, False)
    h2 = scripted("h2-1").request("POST", "/up", headers=((b":authority", b"x"),), body=b"abc")
    h2.events[0] = msgspec.structs.replace(
        h2.events[0],
        http_version="2",
        headers=((b":authority", b"x"), (b"authorization", REDACTED.encode())),
    )
    exchanges = fold(chunked.events + cut.events + h2.events)

    sent = prepare(exchanges["c-1"])
    assert sent.encode().endswith(b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
    assert sent.notes == ("Its body was sent as one chunk.",)
    sent = prepare(exchanges["cut-1"], "http://127.0.0.1:9")
    assert sent.encode().endswith(b"Content-Length: 3\r\n\r\nabc")
    assert sent.notes == ("Content-Length was set to the 3 body bytes kept.",)
    sent = prepare(exchanges["h2-1"])
    assert sent.encode() == (
        b"POST /up HTTP/1.1\r\nhost: x\r\nauthorization: [redacted]\r\ncontent-length: 3\r\n\r\nabc"
    )
    assert sent.notes == (
        "Sent as HTTP/1.1: it came as HTTP/2.",
        "Its pseudo-header fields (HTTP/2) were left out.",
        "Host was added: HTTP/1.1 requires it.",
        "Content-Length was added for its body.",
        "1 value masked at capture sent as [redacted].",
    )
