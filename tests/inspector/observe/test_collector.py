"""The collector and the sink over real sockets (a Unix socket in tmp_path, loopback TCP):
fan-in, acknowledgements, exact loss reports, refusals, control messages, fork safety."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from inspector import events as ev
from inspector import records as rec
from inspector import wire
from inspector.observe.collector import Collector
from inspector.observe.store import prefix_of
from inspector.sink import Sink


class Received:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, events: Sequence[ev.Event]) -> None:
        self.events.extend(events)

    def of(self, kind: type[ev.Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def ids(self) -> list[str]:
        return [e.exchange_id for e in self.of(ev.ClientDisconnected)]


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
def address(tmp_path: Path) -> wire.Address:
    return wire.Address("unix", path=str(tmp_path / "bus.sock"))


@pytest.fixture(params=["unix", "tcp"])
async def served(
    request: pytest.FixtureRequest, address: wire.Address
) -> AsyncIterator[tuple[Collector, Received]]:
    """A running collector; its `address` is where sinks find it (TCP: the port it got)."""
    received = Received()
    where = address if request.param == "unix" else wire.parse_address("tcp://127.0.0.1:0")
    collector = Collector(where, received)
    await collector.start()
    yield collector, received
    await collector.close()


@pytest.fixture
async def collector(address: wire.Address) -> AsyncIterator[tuple[Collector, Received]]:
    received = Received()
    collector = Collector(address, received)
    await collector.start()
    yield collector, received
    await collector.close()


@pytest.fixture
def sinks() -> Iterator[list[Sink]]:
    made: list[Sink] = []
    yield made
    for sink in made:
        sink.close()


async def flushed(sink: Sink, timeout: float = 5.0) -> bool:
    """`sink.flush()` off the event loop, which must go on serving the collector."""
    return await asyncio.to_thread(sink.flush, timeout)


def gone(xid: str) -> tuple[Any, ...]:
    return (rec.CLIENT_GONE, xid, 1)


def batch(*records: bytes) -> bytes:
    return wire.frame(rec.array_header(len(records)) + b"".join(records))


def hello(prefix: str = "a", pid: int = 1) -> bytes:
    return wire.hello(prefix, "h", pid, "raw", None, wall_offset_ns=0)


async def raw_peer(address: wire.Address, *chunks: bytes) -> tuple[dict[str, Any], list[Any]]:
    """Send `chunks` as a peer would; return the collector's answer line and its frames."""
    reader, writer = await asyncio.open_unix_connection(address.path)
    for chunk in chunks:
        writer.write(chunk)
    await writer.drain()
    writer.write_eof()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    line, _, rest = answer.partition(b"\n")
    frames = [msgspec.msgpack.decode(payload) for payload in wire.FrameReader().feed(rest)]
    return json.loads(line), frames


# -- streaming ----------------------------------------------------------------------------------


async def test_a_sink_streams_every_record_to_the_collector(
    served: tuple[Collector, Received], sinks: list[Sink]
) -> None:
    server, received = served
    sink = Sink(server.address, name="worker")
    sinks.append(sink)
    ids = [ev.new_exchange_id() for _ in range(500)]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", b"h")]}
    sink.record(rec.ASGI_SCOPE, ids[0], 1_000, scope)
    for xid in ids:
        sink.record(rec.CLIENT_GONE, xid, 2_000)
    assert await flushed(sink)
    await until(lambda: len(received.ids()) == len(ids))
    hello = received.events[0]
    assert isinstance(hello, ev.PeerConnected)
    assert (hello.prefix, hello.pid, hello.name) == (ev.exchange_id_prefix(), os.getpid(), "worker")
    assert hello.host == socket.gethostname()
    assert received.ids() == ids  # in order, each once
    assert {prefix_of(xid) for xid in received.ids()} == {hello.prefix}
    (peer,) = server.peers.values()
    assert (peer.pid, peer.records, peer.events) == (os.getpid(), len(ids) + 1, len(ids) + 1)
    assert (server.received, server.unreadable) == (len(ids) + 1, 0)
    (started,) = received.of(ev.RequestStarted)
    assert started.wall_time == (1_000 + peer.wall_offset_ns) / 1e9  # dated by the peer's clock
    sink.close()
    await until(lambda: received.of(ev.PeerDisconnected))
    assert received.of(ev.PeerDisconnected)[-1].prefix == hello.prefix
    assert server.peers == {}


async def test_acks_let_flush_return(
    collector: tuple[Collector, Received], address: wire.Address, tmp_path: Path
) -> None:
    _, received = collector
    sink = Sink(address)
    try:
        for n in range(50):
            sink.record(*gone(f"x-{n}"))
        assert await flushed(sink)
        # Acknowledged means delivered: nothing left to wait for.
        assert len(received.ids()) == 50
        assert (sink.sent, sink.dropped) == (50, 0)
    finally:
        sink.close()
    nowhere = Sink(wire.Address("unix", path=str(tmp_path / "nobody.sock")))
    try:
        nowhere.record(*gone("x-1"))
        assert not await flushed(nowhere, 0.1)
    finally:
        nowhere.close()


async def test_a_batch_with_records_that_do_not_decode_delivers_the_others(
    address: wire.Address, collector: tuple[Collector, Received]
) -> None:
    server, received = collector
    frame = batch(
        rec.encode(gone("p-1")),
        msgspec.msgpack.encode((99, "p-2", 1)),  # an unknown tag
        msgspec.msgpack.encode((rec.CLIENT_GONE, "p-3")),  # a field missing
        msgspec.msgpack.encode((rec.ASGI_SENT, "p-4", 1, {"type": "http.response.start"})),
        rec.encode(gone("p-5")),
    )
    answer, frames = await raw_peer(address, hello(), frame)
    assert answer["welcome"] is True
    assert frames == [{"ack": 5}]
    assert received.ids() == ["p-1", "p-5"]
    failures = received.of(ev.CaptureFailed)
    assert [(f.exchange_id, f.where) for f in failures] == [
        ("p-2", "observer"),
        ("p-3", "observer"),
        ("p-4", "observer"),
    ]
    assert [f.error.split(":")[0] for f in failures] == ["record 99", "ClientGone", "AsgiSent"]
    assert (server.received, server.unreadable) == (5, 3)


async def test_a_stream_cut_in_a_frame_is_reported(
    address: wire.Address, collector: tuple[Collector, Received]
) -> None:
    server, received = collector
    cut = (100).to_bytes(4, "big") + b"0123456789"
    answer, frames = await raw_peer(address, hello(), batch(rec.encode(gone("p-1"))), cut)
    assert answer["welcome"] is True
    assert frames[0] == {"ack": 1}
    assert received.ids() == ["p-1"]  # what came before is kept
    assert "cut in the middle of a frame (14 bytes)" in server.errors[-1]
    assert received.of(ev.PeerDisconnected)[-1].reason.startswith("the stream was cut")


@pytest.mark.parametrize(
    ("chunks", "error"),
    [
        ((b"\x16\x03\x01garbage\n",), "expected a hello line"),
        ((hello()[:-2] + b', "v": 1}\n',), "protocol version 1 not supported (this is 2)"),
        ((b'{"protocol": "inspector-events", "v": 2, "prefix": "a", "pid": 1}\n',), "offset"),
        ((hello(), wire.frame(b"\xc1")), "a frame that is not a batch of records"),
        ((hello(), wire.frame(msgspec.msgpack.encode({"a": 1}))), "not a batch of records"),
        ((hello(), (wire.MAX_FRAME + 1).to_bytes(4, "big")), "over the"),
    ],
    ids=["garbage", "old-version", "no-offset", "not-msgpack", "not-an-array", "too-big"],
)
async def test_a_bad_peer_is_told_why_and_dropped(
    address: wire.Address,
    collector: tuple[Collector, Received],
    chunks: tuple[bytes, ...],
    error: str,
) -> None:
    server, received = collector
    answer, frames = await raw_peer(address, *chunks)
    refusal = frames[-1]["error"] if frames else answer["error"]
    assert error in refusal
    assert error in server.errors[-1]
    # The collector still serves others.
    good, _ = await raw_peer(address, hello("b", 2))
    assert good["welcome"] is True
    assert received.of(ev.PeerConnected)[-1].prefix == "b"


async def test_a_peer_speaking_the_old_json_protocol_is_refused_in_words(
    address: wire.Address, collector: tuple[Collector, Received]
) -> None:
    server, received = collector
    old_hello = {"protocol": "inspector-events", "v": 1, "prefix": "a", "host": "h", "pid": 1}
    old_event = {"v": 1, "event": "ClientDisconnected", "exchange_id": "a-1", "at_ns": 1}
    reader, writer = await asyncio.open_unix_connection(address.path)
    writer.write(json.dumps({**old_hello, "name": "", "token": None}).encode() + b"\n")
    writer.write(json.dumps(old_event).encode() + b"\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert answer.count(b"\n") == 1  # one line a person can read, and the end
    assert answer.endswith(b"\n")
    refusal = json.loads(answer)
    assert refusal["error"] == "protocol version 1 not supported (this is 2)"
    assert "protocol version 1 not supported" in server.errors[-1]
    assert received.events == []
    assert server.received == 0


async def test_events_before_a_bad_frame_are_kept(
    address: wire.Address, collector: tuple[Collector, Received]
) -> None:
    _, received = collector
    good = batch(rec.encode(gone("p-1")), rec.encode(gone("p-2")))
    _, frames = await raw_peer(address, hello(), good, wire.frame(b"oops"))
    assert received.ids() == ["p-1", "p-2"]
    assert frames[0] == {"ack": 2}
    assert "not a batch of records" in frames[-1]["error"]


# -- memory -------------------------------------------------------------------------------------


def welcomed(address: wire.Address, prefix: str) -> socket.socket:
    """A blocking raw peer past the welcome (use it off the event loop)."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(address.path)
    sock.sendall(hello(prefix))
    line = b""
    while not line.endswith(b"\n"):
        line += sock.recv(1)
    assert json.loads(line)["welcome"] is True
    return sock


def last_words(sock: socket.socket) -> list[Any]:
    """The frames a peer reads until the collector hangs up (a reset, when the collector left
    bytes of ours unread, comes after what it wrote)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(1 << 16):
            data += chunk
    return [msgspec.msgpack.decode(payload) for payload in wire.FrameReader().feed(data)]


async def test_past_the_bound_on_unfinished_frames_the_peers_holding_most_are_refused(
    address: wire.Address,
) -> None:
    """Issue #10: 40 peers each sending 15 MiB of a frame never finished took a collector from
    41 to 647 MiB. Frames begun are now bounded over all peers, not per peer."""
    received = Received()
    server = Collector(address, received, max_pending=1_000_000)
    await server.start()
    peers: dict[str, socket.socket] = {}
    try:
        # Each peer begins a frame and stops 50 kB or so before its end.
        frames, held = {}, {"a": 300_000, "b": 500_000, "c": 100_000, "d": 200_000}
        total = 0
        for name, size in held.items():
            body = b"x" * (size + 50_000)
            frames[name] = batch(rec.encode((rec.BODY_SENT, f"{name}-1", 1, body, 0, False)))
            peers[name] = await asyncio.to_thread(welcomed, address, name)
            await asyncio.to_thread(peers[name].sendall, frames[name][:size])
            total += size
            if name != "d":  # under the bound: held as it is
                await until(lambda: server.pending == total)  # noqa: B023
        # d took the total past 1 MB: b, holding the most, is refused; the others carry on.
        await until(lambda: server.pending == total - held["b"])
        (refusal,) = await asyncio.to_thread(last_words, peers["b"])
        assert "the collector's limit of 1000000 bytes" in refusal["error"]
        assert "this peer held the most (500000 bytes)" in refusal["error"]
        assert server.errors[-1].endswith(refusal["error"])
        (gone,) = received.of(ev.PeerDisconnected)
        assert (gone.prefix, gone.reason) == ("b", refusal["error"])
        for name in "acd":
            await asyncio.to_thread(peers[name].sendall, frames[name][held[name] :])
            await until(lambda: server.received == "acd".index(name) + 1)  # noqa: B023
        assert server.pending == 0
        assert [e.exchange_id for e in received.of(ev.ResponseBodyChunk)] == ["a-1", "c-1", "d-1"]
        for name in "acd":
            peers[name].shutdown(socket.SHUT_WR)
            assert await asyncio.to_thread(last_words, peers[name]) == [{"ack": 1}]
    finally:
        for sock in peers.values():
            sock.close()
        await server.close()


# -- loss ---------------------------------------------------------------------------------------


async def test_a_restarted_collector_hears_exactly_what_was_dropped_meanwhile(
    address: wire.Address,
) -> None:
    sink = Sink(address, capacity=10)
    received = Received()
    collector = Collector(address, received)
    await collector.start()
    try:
        for n in range(5):
            sink.record(*gone(f"a-{n}"))
        assert await flushed(sink)
        await collector.close()
        await until(lambda: not sink.connected)  # it notices, even with nothing to send
        for n in range(25):  # nobody listens: the sink keeps the newest 10
            sink.record(*gone(f"b-{n}"))
        assert sink.dropped == 15
        received = Received()
        collector = Collector(address, received)
        await collector.start()
        await until(lambda: len(received.ids()) == 10)
        peer, dropped, *rest = received.events
        assert isinstance(peer, ev.PeerConnected)
        assert isinstance(dropped, ev.EventsDropped)
        assert (dropped.count, dropped.total, dropped.where) == (15, 15, "sink")
        assert [e.exchange_id for e in rest] == [f"b-{n}" for n in range(15, 25)]
    finally:
        sink.close()
        await collector.close()


async def test_records_sent_but_never_acknowledged_are_reported_lost(
    address: wire.Address,
) -> None:
    sink = Sink(address, capacity=10)
    for n in range(25):  # no collector yet: 15 dropped from the buffer
        sink.record(*gone(f"a-{n}"))
    assert sink.dropped == 15

    # A collector that reads the first batch (the drop report and 10 records), never
    # acknowledges it, and dies.
    read: list[Any] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n")
        writer.write(wire.reply())
        frames = wire.FrameReader()
        while len(read) < 11:
            data = await reader.read(1 << 16)
            assert data
            for payload in frames.feed(data):
                read.extend(rec.decode_batch(payload))
        listener.close()
        writer.close()

    listener = await asyncio.start_unix_server(silent, address.path)
    received = Received()
    collector = Collector(address, received)
    try:
        await until(lambda: len(read) == 11 and not sink.connected)
        assert read[0] == rec.Dropped(15, 15, "sink")
        assert sink.lost == 10
        for n in range(3):
            sink.record(*gone(f"b-{n}"))
        await collector.start()
        await until(lambda: len(received.ids()) == 3)
        _, dropped, *rest = received.events
        # What the dead collector never acknowledged (10), and the report it took with it (15).
        assert isinstance(dropped, ev.EventsDropped)
        assert (dropped.count, dropped.total) == (25, 25)
        assert [e.exchange_id for e in rest] == ["b-0", "b-1", "b-2"]
    finally:
        sink.close()
        await collector.close()
        listener.close()


def test_a_collector_that_stops_reading_is_waited_for_not_hung_up_on(
    address: wire.Address,
) -> None:
    """A viewer stopped with Ctrl-Z reads every frame it was sent once it resumes. A sink that
    gave up on it (after 5 s, it once did) counted those records lost although they arrived;
    and while it waited in a send it could not hear the viewer's control messages."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address.path)
    listener.listen()
    controls: list[dict[str, Any]] = []
    sink = Sink(address, on_control=controls.append)
    try:
        collector, _ = listener.accept()  # a collector played by hand, blocking
        while not collector.recv(1 << 16).endswith(b"\n"):
            pass
        collector.sendall(wire.reply())
        for n in range(64):  # 4 MiB, and nothing read: the first frame (1 MiB) cannot go out
            sink.record(rec.BODY_SENT, f"x-{n}", n, b"x" * 65536, 65536, False)
        wait_for(lambda: sink.sent)
        collector.sendall(wire.frame(msgspec.msgpack.encode({"control": "stop"})))
        wait_for(lambda: controls == [{"control": "stop"}])  # heard while its frame waits
        frames, received = wire.FrameReader(), 0
        while received < 64:  # the viewer resumes: every record arrives, and is acknowledged
            for payload in frames.feed(collector.recv(1 << 18)):
                received += len(rec.decode_batch(payload))
                collector.sendall(wire.frame(msgspec.msgpack.encode({"ack": received})))
        assert sink.flush()
        assert (sink.sent, sink.dropped, sink.connected) == (64, 0, True)
        collector.close()
    finally:
        sink.close()
        listener.close()


def test_a_tcp_collector_that_reads_nothing_for_long_is_taken_for_dead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its host may be gone without a word: the sink counts the loss and connects again."""
    monkeypatch.setattr("inspector.sink.TCP_STALL", 0.1)
    listener = socket.create_server(("127.0.0.1", 0))
    address = wire.Address("tcp", host="127.0.0.1", port=listener.getsockname()[1])
    sink = Sink(address)
    try:
        collector, _ = listener.accept()
        while not collector.recv(1 << 16).endswith(b"\n"):
            pass
        collector.sendall(wire.reply())
        wait_for(lambda: sink.connected)
        for n in range(320):  # 20 MiB, never read: more than loopback's buffers hold
            sink.record(rec.BODY_SENT, f"x-{n}", n, b"x" * 65536, 65536, False)
        wait_for(lambda: not sink.connected)
        assert "the collector read nothing for 0 s" in (sink.last_error or "")
        assert sink.lost == sink.sent > 0
        collector.close()
    finally:
        listener.close()  # first: the sink is trying again, and waits for a welcome
        sink.close()


def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """`until`, for a test with no event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


async def test_the_sink_buffer_is_bounded_by_bytes_too(address: wire.Address) -> None:
    sink = Sink(address, max_bytes=10_000)  # nobody listens: the oldest go
    try:
        for n in range(4):
            sink.record(rec.BODY_SENT, "x-1", n, b"x" * 4_000, 4_000, True)
        assert sink.dropped == 2
    finally:
        sink.close()


async def test_a_sink_survives_a_record_it_cannot_encode(
    address: wire.Address, collector: tuple[Collector, Received], sinks: list[Sink]
) -> None:
    _, received = collector
    loop: dict[str, Any] = {}
    loop["self"] = loop
    sink = Sink(address)
    sinks.append(sink)
    sink.record(rec.ASGI_SCOPE, "bad-1", 1, {"type": "http", "path": "/", "loop": loop})
    sink.record(*gone("after"))
    assert await flushed(sink)
    await until(lambda: received.ids() == ["after"])
    (failure,) = received.of(ev.CaptureFailed)
    assert (failure.exchange_id, failure.where) == ("bad-1", "AsgiScope")
    (started,) = received.of(ev.RequestStarted)
    assert started.snapshot == {"type": "http", "path": "/", "loop": "<dict>"}
    assert sink.buffer.failures == 1


# -- control ------------------------------------------------------------------------------------


async def test_control_messages_reach_the_sink(
    served: tuple[Collector, Received], sinks: list[Sink]
) -> None:
    server, _ = served
    controls: list[dict[str, Any]] = []
    arrived = threading.Event()

    def on_control(message: dict[str, Any]) -> None:
        controls.append(message)
        arrived.set()

    sinks.append(Sink(server.address, on_control=on_control))
    await until(lambda: server.peers)
    assert server.send_control({"control": "stop"}) == 1
    await until(arrived.is_set)
    assert controls == [{"control": "stop"}]


# -- who may connect ----------------------------------------------------------------------------


async def test_tokens(sinks: list[Sink]) -> None:
    received = Received()
    collector = Collector(wire.parse_address("tcp://127.0.0.1:0"), received, token="s3cret")
    await collector.start()
    try:
        wrong = Sink(collector.address, token="guess")
        right = Sink(collector.address, token="s3cret")
        sinks.extend([wrong, right])
        wrong.record(*gone("w-1"))
        right.record(*gone("r-1"))
        await until(lambda: received.ids() == ["r-1"])
        await until(lambda: "wrong or missing token" in (wrong.last_error or ""))
        assert not wrong.connected
        assert len(received.of(ev.PeerConnected)) == 1
        assert "wrong or missing token" in collector.errors[-1]
    finally:
        await collector.close()


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
    with pytest.raises(ConnectionRefusedError), socket.socket(socket.AF_UNIX) as probe:
        probe.connect(address.path)
    received = Received()
    collector = Collector(address, received)
    await collector.start()
    try:
        assert stat.S_IMODE(os.stat(address.path).st_mode) == 0o600
        answer, _ = await raw_peer(address, hello("after-the-stale-one"))
        assert answer["welcome"] is True  # the path now leads to this collector
        assert [p.prefix for p in received.of(ev.PeerConnected)] == ["after-the-stale-one"]
    finally:
        await collector.close()
    assert not os.path.exists(address.path)


async def test_a_file_in_the_way_is_never_deleted(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    with pytest.raises(OSError, match="not a socket of ours"):
        await Collector(wire.Address("unix", path=str(precious)), Received()).start()
    assert precious.read_text() == "keep me"


async def test_a_sink_refuses_a_collector_run_by_another_user(
    address: wire.Address,
    collector: tuple[Collector, Received],
    monkeypatch: pytest.MonkeyPatch,
    sinks: list[Sink],
) -> None:
    _, received = collector
    real = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real + 1)  # as the sink sees it
    sink = Sink(address)
    sinks.append(sink)
    sink.record(*gone("secret-1"))
    await until(lambda: "not as us: refused" in (sink.last_error or ""))
    assert not sink.connected
    assert received.events == []  # not even a hello: nothing was sent


def test_other_interfaces_need_a_flag_and_a_token() -> None:
    anywhere = wire.parse_address("tcp://0.0.0.0:7999")
    with pytest.raises(wire.WireError, match="--allow-remote and a --token"):
        Collector(anywhere, Received())
    with pytest.raises(wire.WireError, match="--allow-remote"):
        Collector(anywhere, Received(), allow_remote=True)
    Collector(anywhere, Received(), allow_remote=True, token="t")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"x" * (wire.MAX_HELLO + 10) + b"\n", "a hello longer than"),
        (wire.hello("a", "h", 1, "", "s\u00e9cret", 0), "wrong or missing token"),
        (b"[" * 100_000 + b"\n", "a hello longer than"),
        (b"[" * 20_000 + b"]" * 20_000 + b"\n", "expected a hello line"),
        (
            b'{"protocol": "inspector-events", "v": 2, "prefix": "a", "pid": true,'
            b' "token": "secret", "wall_offset_ns": 0}\n',
            "pid",
        ),
    ],
    ids=["long", "token", "deep", "nested", "pid"],
)
async def test_strangers_get_a_refusal_not_a_crash(tmp_path: Path, line: bytes, error: str) -> None:
    address = wire.Address("unix", path=str(tmp_path / "bus.sock"))
    collector = Collector(address, Received(), token="secret")
    await collector.start()
    try:
        answer, _ = await raw_peer(address, line)
        assert error in answer["error"]
    finally:
        await collector.close()


# -- processes ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
async def test_a_forked_child_reports_with_a_new_prefix(
    address: wire.Address, collector: tuple[Collector, Received]
) -> None:
    _, received = collector
    sink = Sink(address, name="parent")
    try:
        sink.record(*gone(ev.new_exchange_id()))
        assert await flushed(sink)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: a fresh buffer, connection and thread; its own prefix
            try:
                xid = ev.new_exchange_id()
                sink.record(*gone(xid))
                report = {"ok": sink.flush(5), "xid": xid, "prefix": ev.exchange_id_prefix()}
                os.write(write_end, json.dumps(report).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        loop = asyncio.get_running_loop()
        with os.fdopen(read_end) as pipe:  # the collector answers the child meanwhile
            report = json.loads(await loop.run_in_executor(None, pipe.read))
        await loop.run_in_executor(None, os.waitpid, pid, 0)
        assert report["ok"] is True
        assert report["prefix"] != ev.exchange_id_prefix()
        peers = {p.prefix: p.pid for p in received.of(ev.PeerConnected)}
        assert peers == {ev.exchange_id_prefix(): os.getpid(), report["prefix"]: pid}
        assert report["xid"] in received.ids()
        assert prefix_of(report["xid"]) == report["prefix"]
        sink.record(*gone("parent-after"))  # the parent's sink carries on
        assert await flushed(sink)
        assert received.ids()[-1] == "parent-after"
    finally:
        sink.close()


async def test_a_wrapped_app_is_listed_before_its_first_request(
    collector: tuple[Collector, Received], address: wire.Address
) -> None:
    """The sink connects when the middleware is made, not at the first request."""
    from inspector import ASGIInspectorMiddleware
    from inspector.events import exchange_id_prefix
    from inspector.runtime import sink_to

    server, received = collector

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    middleware = ASGIInspectorMiddleware(app, bus=sink_to(str(address)))
    try:
        await until(lambda: received.of(ev.PeerConnected))
        (peer,) = received.of(ev.PeerConnected)
        assert peer.prefix == exchange_id_prefix()
        assert len(server.peers) == 1
        assert not [e for e in received.events if e.exchange_id]  # no traffic yet
    finally:
        sink = middleware.options.bus
        assert isinstance(sink, Sink)
        sink.close()
