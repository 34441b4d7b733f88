"""WebSocket replay on real sockets: a conversation captured by the proxy in front of a real
uvicorn + Starlette chat is replayed against the chat (it reproduces), against a changed chat
(the comparison flags what differs), against a port where nothing listens, and against a
route that refuses the handshake; with and without permessage-deflate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from inspector import EventBus
from inspector import events as ev
from inspector.observe.compare import compare
from inspector.observe.exchange import Exchange, fold
from inspector.observe.replay_ws import prepare_websocket, replay_websocket
from inspector.proxy import Proxy, ProxyConfig
from tests.servers import Server, free_port, serve

CHAT = "tests.apps.replay_chat:app"


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("uvicorn", CHAT, tmp_path_factory.mktemp("chat")) as server:
        yield server


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"CHAT_PREFIX": "ECHO> "}
    with serve("uvicorn", CHAT, tmp_path_factory.mktemp("changed"), env) as server:
        yield server


async def capture(
    upstream: Server, path: str, send: list[str | bytes], compression: str | None
) -> Exchange:
    """One conversation through the proxy (subprotocol `chat.v2` offered), folded."""
    bus = EventBus()
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    proxy = Proxy(ProxyConfig(("127.0.0.1", upstream.port), ("127.0.0.1", 0)), bus)
    await proxy.start()
    try:
        url = f"ws://127.0.0.1:{proxy.port}{path}"
        async with connect(url, subprotocols=["chat.v2"], compression=compression) as ws:  # type: ignore[list-item]
            await ws.recv()  # the greeting
            for message in send:
                await ws.send(message)
                if message != "bye":
                    await ws.recv()
            if "bye" in send:
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
        for _ in range(500):
            await asyncio.to_thread(bus.flush)
            exchanges = list(fold(seen).values())
            if exchanges and exchanges[0].finished is not None:
                return exchanges[0]
            await asyncio.sleep(0.01)
        raise AssertionError("the captured exchange never finished")
    finally:
        await proxy.close()
        bus.close()


async def replayed(exchange: Exchange, base: str, **options: object) -> tuple[Exchange, object]:
    events: list[ev.Event] = []
    done = await replay_websocket(exchange, events.extend, base=base, **options)  # type: ignore[arg-type]
    (replay,) = fold(events).values()
    return replay, done


def texts(exchange: Exchange, sender: str) -> list[str | bytes | None]:
    return [
        m.text if m.text is not None else m.data for m in exchange.messages if m.sender == sender
    ]


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_a_replay_reproduces_the_conversation(
    chat: Server, changed: Server, compression: str | None
) -> None:
    sent: list[str | bytes] = ["hello", b"\x00\x01\x02", "x" * 70_000]
    original = await capture(chat, "/ws/chat?room=1", sent, compression)
    offered = [v for n, v in original.request.headers if n.lower() == b"sec-websocket-extensions"]  # type: ignore[union-attr]
    assert bool(offered) == (compression is not None)

    replay, _ = await replayed(original, chat.url)
    request = replay.request
    assert request is not None
    assert request.snapshot == {"replay_of": original.id}
    assert request.kind == "websocket"
    assert request.query == b"room=1"
    names = [n.lower() for n, _ in request.headers]
    assert names == [n.lower() for n, _ in original.request.headers]  # type: ignore[union-attr]
    keys = [v for n, v in request.headers if n.lower() == b"sec-websocket-key"]
    assert keys != [v for n, v in original.request.headers if n.lower() == b"sec-websocket-key"]  # type: ignore[union-attr]
    assert replay.accepted is not None
    assert replay.accepted.subprotocol == "chat.v2"
    assert texts(replay, "client") == sent
    assert texts(replay, "server") == texts(original, "server")
    assert replay.state == "closed"
    assert [(c.sender, c.code) for c in _closes(replay)] == [("client", 1000), ("server", 1000)]
    comparison = compare(original, replay)
    assert comparison.same, comparison

    different, _ = await replayed(original, changed.url, paced=True)
    assert texts(different, "client") == sent
    comparison = compare(original, different)
    assert not comparison.same
    flagged = [row for row in comparison.messages if not row.same]
    assert [(row.original, row.replay) for row in flagged][:2] == [
        ('{"type": "hello", "prefix": "echo: "}', '{"type": "hello", "prefix": "ECHO> "}'),
        ("echo: hello", "ECHO> hello"),
    ]
    assert all(row.same for row in comparison.messages if row.original == "bytes: 00 00 00 03")


async def test_the_server_closing_ends_the_replay(chat: Server) -> None:
    original = await capture(chat, "/ws/chat", ["hi", "bye"], None)
    replay, done = await replayed(original, chat.url)
    assert texts(replay, "server") == texts(original, "server")
    assert [(c.sender, c.code, c.reason) for c in _closes(replay)] == [
        ("server", 4000, "goodbye"),
        ("client", 4000, "goodbye"),
    ]
    assert "4000" in done.closed  # type: ignore[attr-defined]


async def test_a_target_that_is_down_is_a_failed_exchange(chat: Server) -> None:
    original = await capture(chat, "/ws/chat", ["hi"], None)
    replay, done = await replayed(original, f"http://127.0.0.1:{free_port()}")
    assert replay.state == "failed"
    assert replay.error is not None
    assert replay.error.type == "ConnectionRefusedError"
    assert "ConnectionRefusedError" in (done.error or "")  # type: ignore[attr-defined]


async def test_a_refused_handshake_is_recorded_as_denied(chat: Server) -> None:
    original = await capture(chat, "/ws/chat", ["hi"], None)
    prepared = prepare_websocket(original)
    assert prepared.expected == 2
    moved = original.request
    assert moved is not None
    original.request = type(moved)(
        **{**_fields(moved), "raw_path": b"/ws/deny", "path": "/ws/deny"}
    )
    replay, done = await replayed(original, chat.url)
    assert replay.status == 403
    assert replay.denied is not None
    assert done.status == 403  # type: ignore[attr-defined]
    assert not compare(original, replay).same


def _closes(exchange: Exchange) -> list[ev.WebSocketClosed]:
    return [e for e in exchange.events if isinstance(e, ev.WebSocketClosed)]


def _fields(event: ev.RequestStarted) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__struct_fields__}


def test_nothing_to_replay_is_said(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only a captured WebSocket"):
        prepare_websocket(Exchange("none"))
