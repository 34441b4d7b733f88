"""The collector and the sink, over real sockets in one process: fan-in, refusals, recovery."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from inspector import events as ev
from inspector import wire
from inspector.bus import EventBus
from inspector.collector import Collector
from inspector.events import Snapshot
from inspector.sink import Sink
from tests.inspector.samples import one_of_each, request_started


class Received:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, events: object) -> None:
        self.events.extend(events)  # type: ignore[call-overload]

    def of(self, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, kind)]


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
def address(tmp_path: Path) -> wire.Address:
    return wire.Address("unix", path=str(tmp_path / "bus.sock"))


@pytest.fixture
async def collector(address: wire.Address) -> AsyncIterator[tuple[Collector, Received]]:
    received = Received()
    collector = Collector(address, received)
    await collector.start()
    yield collector, received
    await collector.close()


async def raw_peer(address: wire.Address, *lines: bytes) -> bytes:
    """Send `lines` as a peer would and return everything the collector answered."""
    reader, writer = await asyncio.open_unix_connection(address.path)
    for line in lines:
        writer.write(line)
    await writer.drain()
    writer.write_eof()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def test_a_sink_streams_every_event_to_the_collector(
    address: wire.Address, collector: tuple[Collector, Received]
) -> None:
    server, received = collector
    sink = Sink(address, name="worker")
    events = one_of_each()
    sink(events[:10])
    sink(events[10:])
    await until(lambda: len(received.events) == len(events) + 1)
    hello = received.events[0]
    assert isinstance(hello, ev.PeerConnected)
    assert (hello.prefix, hello.pid, hello.name) == (ev.exchange_id_prefix(), os.getpid(), "worker")
    assert hello.host == socket.gethostname()
    assert received.events[1:] == events
    assert [(p.pid, p.events) for p in server.peers.values()] == [(os.getpid(), len(events))]
    sink.close()
    await until(lambda: len(received.of(ev.PeerDisconnected)) == 2)
    assert received.of(ev.PeerDisconnected)[-1].prefix == hello.prefix  # type: ignore[attr-defined]
    assert server.peers == {}


async def test_the_socket_is_private_and_removed_on_close(address: wire.Address) -> None:
    collector = Collector(address, Received())
    await collector.start()
    assert stat.S_IMODE(os.stat(address.path).st_mode) == 0o600
    with pytest.raises(OSError, match="already listening"):
        await Collector(address, Received()).start()
    await collector.close()
    assert not os.path.exists(address.path)


async def test_a_stale_socket_file_is_replaced(address: wire.Address) -> None:
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(address.path)
    stale.close()  # the file stays, nobody listens
    collector = Collector(address, Received())
    await collector.start()
    await collector.close()


def test_other_interfaces_need_a_flag_and_a_token() -> None:
    anywhere = wire.parse_address("tcp://0.0.0.0:7999")
    with pytest.raises(wire.WireError, match="--allow-remote and a --token"):
        Collector(anywhere, Received())
    with pytest.raises(wire.WireError, match="--allow-remote"):
        Collector(anywhere, Received(), allow_remote=True)
    Collector(anywhere, Received(), allow_remote=True, token="t")


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ((b"\x16\x03\x01garbage\n",), "expected a hello line"),
        ((b'{"protocol": "inspector-events", "v": 2, "prefix": "a", "pid": 1}\n',), "version 2"),
        ((wire.hello("a", "h", 1, "", None), b"not json\n"), "line 1: not JSON"),
        ((wire.hello("a", "h", 1, "", None), b'{"v": 1, "event": "Nope"}\n'), "line 1: unknown"),
        ((wire.hello("a", "h", 1, "", None), b'{"v": 1, "event": "Ex'), "truncated line"),
    ],
)
async def test_a_bad_peer_is_told_why_and_dropped(
    address: wire.Address,
    collector: tuple[Collector, Received],
    lines: tuple[bytes, ...],
    error: str,
) -> None:
    server, received = collector
    answer = await raw_peer(address, *lines)
    replies = [json.loads(line) for line in answer.splitlines()]
    assert error in replies[-1]["error"]
    assert error in server.errors[-1]
    # The collector still serves others.
    good = await raw_peer(address, wire.hello("b", "h", 2, "", None), b"")
    assert json.loads(good)["welcome"] is True
    assert [e.prefix for e in received.of(ev.PeerConnected)][-1] == "b"  # type: ignore[attr-defined]


async def test_a_huge_line_is_refused(
    address: wire.Address, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "MAX_LINE", 1000)
    received = Received()
    collector = Collector(address, received)
    await collector.start()
    try:
        answer = await raw_peer(address, wire.hello("a", "h", 1, "", None), b"x" * 5000)
        assert "a line longer than 1000 bytes" in json.loads(answer.splitlines()[-1])["error"]
    finally:
        await collector.close()


async def test_events_before_a_bad_line_are_kept(
    address: wire.Address, collector: tuple[Collector, Received]
) -> None:
    _, received = collector
    from inspector import codec

    good = codec.dumps(request_started()).encode() + b"\n"
    await raw_peer(address, wire.hello("a", "h", 1, "", None), good + b"oops\n")
    assert received.of(ev.RequestStarted) == [request_started()]


async def test_tokens(tmp_path: Path) -> None:
    received = Received()
    collector = Collector(wire.parse_address("tcp://127.0.0.1:0"), received, token="s3cret")
    await collector.start()
    try:
        wrong = Sink(collector.address, token="guess")
        right = Sink(collector.address, token="s3cret")
        wrong([request_started()])
        right([request_started()])
        await until(lambda: received.of(ev.RequestStarted))
        await until(lambda: "wrong or missing token" in (wrong.last_error or ""))
        assert not wrong.connected
        assert len(received.of(ev.PeerConnected)) == 1
        wrong.close()
        right.close()
    finally:
        await collector.close()


async def test_a_collector_started_later_gets_the_traffic_and_the_drop_count(
    address: wire.Address,
) -> None:
    bus = EventBus()
    sink = Sink(address, capacity=50)
    sink.attach(bus)
    for n in range(80):  # nobody listens yet: the sink keeps the newest 50
        bus.publish(ev.ClientDisconnected(f"x-{n}", n))
    bus.flush()
    await until(lambda: sink.dropped == 30)
    received = Received()
    collector = Collector(address, received)
    await collector.start()
    try:
        await until(lambda: len(received.of(ev.ClientDisconnected)) == 50)
        dropped = received.of(ev.EventsDropped)
        assert [(d.count, d.where) for d in dropped] == [(30, "sink")]  # type: ignore[attr-defined]
        assert [e.exchange_id for e in received.of(ev.ClientDisconnected)] == [
            f"x-{n}" for n in range(30, 80)
        ]
        # The collector dies and comes back: traffic flows again.
        await collector.close()
        await until(lambda: not sink.connected)  # it notices, even with nothing to send
        bus.publish(ev.ClientDisconnected("after", 1))
        received2 = Received()
        collector = Collector(address, received2)
        await collector.start()
        await until(
            lambda: [e.exchange_id for e in received2.of(ev.ClientDisconnected)] == ["after"]
        )
    finally:
        await collector.close()
        sink.close()
        bus.close()


async def test_a_file_in_the_way_is_never_deleted(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    with pytest.raises(OSError, match="not a socket of ours"):
        await Collector(wire.Address("unix", path=str(precious)), Received()).start()
    assert precious.read_text() == "keep me"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"x" * (wire.MAX_HELLO + 10) + b"\n", "a hello longer than"),
        (wire.hello("a", "h", 1, "", "s\u00e9cret"), "wrong or missing token"),
        (b"[" * 100_000 + b"\n", "a hello longer than"),
        (b"[" * 20_000 + b"]" * 20_000 + b"\n", "expected a hello line"),
        (
            b'{"protocol": "inspector-events", "v": 1, "prefix": "a", "pid": true,'
            b' "token": "secret"}\n',
            "pid",
        ),
    ],
)
async def test_strangers_get_a_refusal_not_a_crash(tmp_path: Path, line: bytes, error: str) -> None:
    address = wire.Address("unix", path=str(tmp_path / "bus.sock"))
    collector = Collector(address, Received(), token="secret")
    await collector.start()
    try:
        answer = await raw_peer(address, line)
        assert error in json.loads(answer.splitlines()[-1])["error"]
    finally:
        await collector.close()


async def test_a_sink_survives_an_event_it_cannot_encode(
    address: wire.Address, collector: tuple[Collector, Received]
) -> None:
    def broken_mask(safe: dict[str, object]) -> dict[str, object]:
        raise RuntimeError("a redaction that fails")

    _, received = collector
    snapshot = Snapshot({"type": "http"}, mask=broken_mask)  # type: ignore[arg-type]
    bad = replace(request_started(), exchange_id="bad-1", snapshot=snapshot)
    sink = Sink(address)
    sink([bad, request_started()])
    await until(lambda: received.of(ev.RequestStarted))
    assert [e.exchange_id for e in received.of(ev.RequestStarted)] == [
        request_started().exchange_id
    ]
    assert sink.encode_errors == 1
    sink([ev.ClientDisconnected("after", 1)])  # the sink thread is still alive
    await until(lambda: received.of(ev.ClientDisconnected))
    sink.close()


async def test_the_sink_buffer_is_bounded_by_bytes_too(address: wire.Address) -> None:
    sink = Sink(address, max_bytes=10_000)
    chunk = ev.ResponseBodyChunk("x-1", 1, b"x" * 4_000, 4_000, True)
    sink([chunk, chunk, chunk, chunk])  # nobody listens: the oldest go
    assert sink.dropped == 2
    sink.close()
