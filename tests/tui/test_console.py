"""The headless log: its lines, its two ways of following exchanges, and a writer that never
makes the bus thread wait for the terminal."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import msgspec
import pytest

from inspector import events as ev
from tests.inspector.samples import request_started
from tests.servers import ROOT
from tui.console import ConsoleLog, LineWriter
from tui.widgets.cells import printable

CLOCK = time.strftime("%H:%M:%S", time.localtime(1_700_000_000.0))
PEER = ev.PeerConnected("", 0, "0a1b2c", "web-1", 4242, "gunicorn")
EVERYTHING = "~ws | !~ws"
"""A filter every exchange matches: it makes the log fold whole exchanges."""


def started(xid: str, kind: str = "http", path: str = "/items") -> ev.RequestStarted:
    return msgspec.structs.replace(request_started(kind, path=path), exchange_id=xid)


def finished(xid: str, outcome: ev.Outcome = "completed", ns: int = 12_345_678) -> ev.Event:
    return ev.ExchangeFinished(xid, 9, outcome, None, None, ns)


def http(xid: str, status: int = 200, sent: int = 5, received: int = 2048) -> list[ev.Event]:
    return [
        started(xid),
        ev.RequestBodyChunk(xid, 1, b"x" * min(sent, 4), sent, False),
        ev.ResponseStarted(xid, 2, status, ((b"content-type", b"text/plain"),), False),
        ev.ResponseBodyChunk(xid, 3, b"y" * min(received, 4), received, False),
        finished(xid),
    ]


HANDSHAKE = (
    (b"host", b"test"),
    (b"upgrade", b"websocket"),
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"sec-websocket-version", b"13"),
)


def websocket(xid: str) -> list[ev.Event]:
    return [
        msgspec.structs.replace(started(xid, "websocket", "/chat"), headers=HANDSHAKE),
        ev.WebSocketHandshakeReceived(xid, 1),
        ev.WebSocketAccepted(xid, 2, None, ()),
        ev.WebSocketMessage(xid, 3, "client", "hi", None, 2),
        ev.WebSocketMessage(xid, 4, "server", None, b"\x01\x02", 2),
        ev.WebSocketClosed(xid, 5, "client", 1000, "", True),
        finished(xid),
    ]


def printed(
    events: list[ev.Event], filter_text: str = "", color: bool = False, batch: int = 1_000
) -> list[str]:
    out = io.StringIO()
    log = ConsoleLog(out, filter_text, color)
    for i in range(0, len(events), batch):
        log(events[i : i + batch])
    log.close()
    return out.getvalue().splitlines()


# -- lines -----------------------------------------------------------------------------------


def test_an_http_exchange_is_one_line_with_its_origin() -> None:
    assert printed([PEER, *http("0a1b2c-1")]) == [
        "gunicorn[4242] on web-1 connected",
        f"{CLOCK} asgi  GET     200     12.3 ms ↑      5 B ↓  2.0 KiB  /items?page=2"
        "  gunicorn[4242]",
    ]


def test_a_failed_exchange_shows_err_and_the_error() -> None:
    events = [
        started("x-1"),
        ev.AppFailed("x-1", 1, "ValueError", "bad", "Traceback ...", False),
        finished("x-1", "failed", 1_500_000),
    ]
    assert printed(events) == [
        f"{CLOCK} asgi  GET     ERR      1.5 ms ↑      0 B ↓      0 B  /items?page=2"
        "  ValueError: bad"
    ]


def test_a_websocket_shows_each_message_then_its_counts() -> None:
    assert printed(websocket("x-1")) == [
        "         ws → app       2 B  'hi'",
        "         ws ← app       2 B  01 02",
        f"{CLOCK} asgi  GET     101     12.3 ms ↑      0 B ↓      0 B  /chat?page=2"
        "  ws 1↑ 1↓ closed",
    ]


def test_drops_and_peers_have_lines_of_their_own() -> None:
    events = [
        PEER,
        ev.EventsDropped("", 1, 3, 10, "bus"),
        ev.PeerDisconnected("", 2, "0a1b2c", "disconnected"),
        ev.PeerDisconnected("", 3, "ffff", "lost"),
        ev.CaptureFailed("", 4, "observer", "AsgiScope: Expected `int`, got `str`"),
        ev.CaptureFailed("0a1b2c-7", 5, "asgi", "TypeError: boom"),
    ]
    assert printed(events) == [
        "gunicorn[4242] on web-1 connected",
        "3 events dropped (bus)",
        "gunicorn[4242] disconnected",
        "peer ffff lost",
        "capture failed (observer): AsgiScope: Expected `int`, got `str`",
        "capture failed (asgi 0a1b2c-7): TypeError: boom",
    ]


def test_colour_marks_the_status_class_and_quiet_parts() -> None:
    plain, coloured = printed(http("x-1", 404)), printed(http("x-1", 404), color=True)
    assert "\x1b" not in plain[0]
    assert "\x1b[33m404\x1b[0m" in coloured[0]
    assert printed(websocket("x-1"), color=True)[0].startswith("         \x1b[2mws → app")


def test_colour_by_default_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def coloured(stream: io.StringIO) -> bool:
        log = ConsoleLog(stream)
        log(http("x-1"))
        log.close()
        return "\x1b[" in stream.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert coloured(Terminal())
    assert not coloured(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not coloured(Terminal())


def test_captured_text_cannot_drive_the_terminal() -> None:
    every_control = "".join(map(chr, range(0xA0)))
    controls = [c for c in every_control if not c.isprintable() and c != "\t"]
    events = [
        *http("x-1")[:4],
        ev.AppFailed("x-1", 4, "Boom\x1b[2J", "line\nnext\x1b]0;title\x07", "", True),
        finished("x-1"),
        started("x-2", path="/" + every_control),
        finished("x-2"),
        started("x-3", "websocket"),
        ev.WebSocketMessage("x-3", 1, "client", "\x1b[31mred\x9b1m", None, 14),
        ev.PeerConnected("", 2, "p", "h\x1bost", 1, "n\x1b"),
        ev.EventsDropped("", 3, 1, 1, "bus\x1b[K"),
    ]
    for color in (False, True):
        text = "\n".join(printed(events, color=color))
        captured = text.replace("\x1b[0m", "").replace("\x1b[2m", "")
        for style in ("31", "32", "33", "35"):
            captured = captured.replace(f"\x1b[{style}m", "")
        assert not any(c in captured for c in controls if c != "\n")
    lines = printed(events)
    assert lines[0].endswith("  Boom\\x1b[2J: line\\x0anext\\x1b]0;title\\x07")
    # The same rule as the viewer's.
    # (asgi.start-missing: an app that returned without a response, the only finding here)
    assert lines[1].endswith("  /" + printable(every_control) + "?page=2  ⚠ 1 check")
    assert lines[2].endswith("'\\x1b[31mred\\x9b1m'")
    assert lines[3] == "n\\x1b[1] on h\\x1bost connected"
    assert lines[4] == "1 event dropped (bus\\x1b[K)"


# -- without a filter, a summary; with one, whole exchanges ------------------------------------


def mixed() -> list[ev.Event]:
    """Interleaved exchanges reaching every rule a line depends on."""
    restarted = [
        started("0a1b2c-2", "http"),
        ev.ResponseStarted("0a1b2c-2", 1, 200, (), False),
        ev.ResponseRestarted("0a1b2c-2", 2, 500, (), "Internal Server Error", "ValueError()"),
        ev.ResponseBodyWritten("0a1b2c-2", 3, b"oops", 4),
        ev.ResponseRestarted("0a1b2c-2", 4, 503, (), "Unavailable", "too late"),
        finished("0a1b2c-2"),
    ]
    denied = [
        started("0a1b2c-3", "websocket"),
        ev.WebSocketHandshakeReceived("0a1b2c-3", 1),
        ev.WebSocketDenied("0a1b2c-3", 2, 401, ()),
        ev.ResponseBodyChunk("0a1b2c-3", 3, b"no", 2, False),
        finished("0a1b2c-3"),
    ]
    closed_early = [
        started("x-4", "websocket"),
        ev.WebSocketClosed("x-4", 1, "server", 1008, "", False),
        ev.WebSocketClosed("x-4", 2, "client", 1000, "", True),
        finished("x-4"),
    ]
    failed_ws = [
        *websocket("x-5")[:4],
        ev.AppFailed("x-5", 5, "RuntimeError", "gone", "", True),
        finished("x-5", "failed"),
    ]
    streams = [
        http("0a1b2c-1", 201, 0, 3 << 20),
        restarted,
        denied,
        closed_early,
        failed_ws,
        websocket("x-6"),
        [started("x-7"), ev.ResponseStarted("x-7", 1, 200, (), False)],  # never finishes
        [ev.WebSocketMessage("x-8", 1, "server", "", None, 0), finished("x-8")],  # no start
        [started("x-9"), ev.ClientDisconnected("x-9", 1), finished("x-9", "disconnected")],
    ]
    # Round-robin, as exchanges run at the same time.
    events: list[ev.Event] = [PEER, ev.EventsDropped("", 0, 1, 1, "sink")]
    for i in range(max(map(len, streams))):
        events += [stream[i] for stream in streams if i < len(stream)]
    events.append(ev.PeerDisconnected("", 9, "0a1b2c", "disconnected"))
    return events


@pytest.mark.parametrize("batch", [1, 3, 1_000])
def test_the_summary_and_the_fold_print_the_same_lines(batch: int) -> None:
    lines = printed(mixed(), batch=batch)
    assert lines == printed(mixed(), EVERYTHING, batch=batch)
    assert printed(mixed(), color=True) == printed(mixed(), EVERYTHING, color=True)
    statuses = [line.split()[3] for line in lines if line.startswith(CLOCK)]
    assert statuses == ["ERR", "403", "201", "401", "500", "101", "101"]
    assert "''" not in "".join(lines)  # messages of an exchange whose start was lost


def test_a_filter_keeps_matching_exchanges_and_their_messages() -> None:
    lines = printed([*http("x-1", 200), *websocket("x-2"), *http("x-3", 404)], "~ws | ~c 4xx")
    assert lines[:2] == ["         ws → app       2 B  'hi'", "         ws ← app       2 B  01 02"]
    assert [line.split()[3] for line in lines[2:]] == ["101", "404"]


@pytest.mark.parametrize("filter_text", ["", EVERYTHING])
def test_exchanges_kept_while_they_run_are_bounded(filter_text: str) -> None:
    out = io.StringIO()
    log = ConsoleLog(out, filter_text)
    log.MAX_OPEN = 2
    log([started("x-1"), started("x-2"), started("x-3")])
    log([finished("x-1"), finished("x-2"), finished("x-3")])
    log.close()
    lines = out.getvalue().splitlines()
    assert [line.split("  ⚠")[0].split()[-1] for line in lines] == ["/items?page=2"] * 2


# -- the writer --------------------------------------------------------------------------------


class Stuck(io.StringIO):
    """A terminal that stops reading until `go` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.writing = threading.Event()

    def write(self, text: str) -> int:
        self.writing.set()
        self.go.wait(10)
        return super().write(text)


def returns_while_stuck(stream: Stuck, calls: Callable[[], object]) -> bool:
    """Whether `calls` return while `stream` is still stuck in a write (it stays stuck for
    10 s: calls that waited for it would still be running after 5)."""
    thread = threading.Thread(target=calls, daemon=True)
    thread.start()
    thread.join(5)
    return not thread.is_alive() and not stream.go.is_set()


def test_the_writer_drops_and_counts_what_a_stuck_stream_cannot_take() -> None:
    stream = Stuck()
    writer = LineWriter(stream, max_lines=10)
    writer.put(["first"])
    assert stream.writing.wait(5)
    assert returns_while_stuck(
        stream, lambda: [writer.put([f"line {i}.{j}" for j in range(5)]) for i in range(5)]
    )  # never waits for the stream
    assert writer.dropped == 15
    stream.go.set()
    writer.close()
    assert stream.getvalue().splitlines() == [
        "first",
        *(f"line {i}.{j}" for i in range(2) for j in range(5)),
        "15 lines dropped: the output could not keep up",
    ]


def test_the_log_never_waits_for_a_stuck_stream() -> None:
    stream = Stuck()
    log = ConsoleLog(stream, max_lines=100)
    assert returns_while_stuck(stream, lambda: [log(http(f"x-{i}")) for i in range(1_000)])
    assert log.writer.dropped >= 1_000 - 2 * 100  # the batch being written, and those waiting
    # Closing waits a bounded time, not for the stream.
    assert returns_while_stuck(stream, lambda: log.writer.close(timeout=0.1))
    stream.go.set()


def test_a_broken_stream_ends_the_writing_quietly() -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    writer = LineWriter(Broken())
    writer.put(["a"])
    writer.close()
    writer.put(["b", "c"])
    assert writer.dropped == 3


def test_a_waiting_writer_drops_nothing_for_a_slow_stream() -> None:
    """A saved session being printed: the producer waits for the reader, every line comes."""
    stream = Stuck()
    writer = LineWriter(stream, max_lines=10, wait=True)
    done = threading.Event()

    def produce() -> None:
        for i in range(10):
            writer.put([f"line {i}.{j}" for j in range(5)])
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    assert stream.writing.wait(5)
    assert not done.wait(0.2)  # 50 lines cannot fit in 10 while the stream is stuck
    stream.go.set()
    producer.join(10)
    writer.close()
    assert writer.dropped == 0
    assert stream.getvalue().splitlines() == [f"line {i}.{j}" for i in range(10) for j in range(5)]


def test_a_waiting_writer_gives_up_when_the_stream_breaks() -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    writer = LineWriter(Broken(), max_lines=10, wait=True)
    for i in range(20):  # would wait forever for room if a broken stream were waited for
        writer.put([f"line {i}"] * 5)
    writer.close()
    assert writer.broken


def test_lines_still_queued_at_exit_are_written() -> None:
    script = (
        "from inspector import events as ev; from tui.console import ConsoleLog; "
        "log = ConsoleLog(); log([ev.PeerConnected('', 0, 'p', 'h', 1, 'n')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.stdout == "n[1] on h connected\n"


def test_a_stream_that_cannot_encode_arrows_gets_replacements() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    writer = LineWriter(stream)
    writer.put(["↑ 5 B"])
    writer.close()
    assert raw.getvalue() == b"? 5 B\n"


def test_the_line_counts_the_spec_checks_findings() -> None:
    events = [*http("x-1", status=204)[:3], *http("x-1", status=204)[3:]]  # a body on a 204
    plain = printed(events)
    assert plain[0].endswith("/items?page=2  ⚠ 1 check")
    assert printed(events, "~check http.body-on-204") == plain
    assert printed(events, "!~check") == []
