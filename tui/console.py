"""The headless log: one line per finished exchange and per WebSocket message, as they happen.

`ConsoleLog` is called with each batch of events (by the collector, on its event loop), turns
them into lines, and hands them to a `LineWriter`, whose own thread writes them out. Printing
must never slow capture, so the writer keeps at most `max_lines` waiting and drops (and counts)
the rest when the terminal or pipe cannot keep up; printing a saved session slows nobody, so
there (`wait=True`) it waits for the reader instead and prints every line. Without a filter
the log keeps only what a line needs per running exchange; a filter needs whole `Exchange`s,
so then it folds them. Lines are plain f-strings with ANSI colours chosen once (none off a
terminal or with `NO_COLOR`), and captured text has its control characters shown as `\\xNN`
so it can never drive the terminal.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from inspector import events as ev
from inspector.observe.checks import check, findings
from inspector.observe.exchange import DEFAULT_MAX_EVENTS, Exchange
from inspector.observe.filters import compile_filter
from inspector.observe.store import Origin, prefix_of

DEFAULT_MAX_LINES = 10_000


class Stream(Protocol):
    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


def size(n: int) -> str:
    """Bytes for people: `512 B`, `1.5 KiB`, `3.0 MiB`."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def counted(n: int, noun: str) -> str:
    """A count for people, in the right number: `1 exchange`, `2 exchanges`, `12,000 events`."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


# The rule of `tui.widgets.cells.printable` (C0 but tab, DEL, C1: ESC and CSI start the
# sequences that move the cursor or recolour), as a table: no regex per line.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0))}


def _safe(text: str) -> str:
    return text if text.isprintable() else text.translate(_CONTROLS)


class LineFormat:
    """Lines as text, with the styles (ANSI SGR codes, or nothing) prepared once."""

    def __init__(self, color: bool) -> None:
        def sgr(code: str) -> str:
            return f"\x1b[{code}m" if color else ""

        self.off, self.dim, self.red, self.yellow = sgr("0"), sgr("2"), sgr("31"), sgr("33")
        self.other = sgr("35")  # no status, or an unusual one
        self.status = {1: sgr("36"), 2: sgr("32"), 3: sgr("34"), 4: self.yellow, 5: sgr("1;31")}
        self._second = -1
        self._clock = ""
        self._sizes: dict[int, str] = {}

    def size(self, n: int) -> str:
        """`size(n)` in its 9-character column; the same few sizes come back again and again."""
        shown = self._sizes.get(n)
        if shown is None:
            if len(self._sizes) >= 4096:
                self._sizes.clear()
            shown = self._sizes[n] = size(n).rjust(9)
        return shown

    def clock(self, wall_time: float) -> str:
        second = int(wall_time)
        if second != self._second:  # many lines share a second: strftime once per second
            self._second, self._clock = second, time.strftime("%H:%M:%S", time.localtime(second))
        return self._clock

    def exchange(
        self,
        request: ev.RequestStarted,
        status: int | None,
        duration_ns: int | None,
        sent: int,
        received: int,
        websocket: tuple[int, int, str] | None,
        error: ev.AppFailed | None,
        origin: str | None,
        checks: int = 0,
    ) -> str:
        """`websocket`: messages from the client, from the server, and the state word;
        `checks`: how many spec-check findings the exchange has."""
        if status is None:
            shown, style = "ERR", self.other
        else:
            shown, style = str(status), self.status.get(status // 100, self.other)
        target = request.path + ("?" + request.query.decode("latin-1") if request.query else "")
        duration = "" if duration_ns is None else "%8.1f ms" % (duration_ns / 1e6)
        # ljust/rjust: half the cost of format specs, which matters at one line per exchange.
        line = (
            f"{self.clock(request.wall_time)} {request.source.ljust(5)} "
            f"{_safe(request.method).ljust(7)} {style}{shown.rjust(3)}{self.off} {duration} "
            f"↑{self.size(sent)} ↓{self.size(received)}  {_safe(target)}"
        )
        if origin is not None:
            line += f"  {self.dim}{origin}{self.off}"
        if websocket is not None:
            client, server, state = websocket
            line += f"  {self.dim}ws {client}↑ {server}↓ {state}{self.off}"
        if error is not None:
            line += f"  {self.red}{_safe(error.type)}: {_safe(error.message)}{self.off}"
        if checks:
            line += f"  {self.yellow}⚠ {counted(checks, 'check')}{self.off}"
        return line

    def message(self, message: ev.WebSocketMessage) -> str:
        arrow = "→ app" if message.sender == "client" else "← app"
        if message.text is not None:
            preview = repr(message.text[:60])
        else:
            preview = (message.data or b"")[:24].hex(" ")
        return (
            f"         {self.dim}ws {arrow} {self.size(message.size)}{self.off}  {_safe(preview)}"
        )

    def events_dropped(self, event: ev.EventsDropped) -> str:
        dropped = counted(event.count, "event")
        return f"{self.yellow}{dropped} dropped ({_safe(event.where)}){self.off}"

    def capture_failed(self, event: ev.CaptureFailed) -> str:
        where = _safe(f"{event.where} {event.exchange_id}".strip())
        return f"{self.yellow}capture failed ({where}): {_safe(event.error)}{self.off}"

    def lines_dropped(self, count: int) -> str:
        dropped = counted(count, "line")
        return f"{self.yellow}{dropped} dropped: the output could not keep up{self.off}"

    def peer(self, origin: str, what: str) -> str:
        return f"{self.dim}{origin} {_safe(what)}{self.off}"


_PLAIN = LineFormat(color=False)


class _Summary:
    """What the line of one running exchange needs: `Exchange`'s rules, nothing kept."""

    __slots__ = (
        "accepted",
        "client_messages",
        "closed_accepted",
        "denied",
        "error",
        "events",
        "received",
        "request",
        "response",
        "sent",
        "server_messages",
    )

    def __init__(self, request: ev.RequestStarted) -> None:
        self.request = request
        self.events: list[ev.Event] = [request]
        """What the spec checks read at the finish, bounded as an exchange's timeline is."""
        self.response: int | None = None
        self.denied: int | None = None
        self.accepted = False
        self.closed_accepted: bool | None = None
        self.error: ev.AppFailed | None = None
        self.sent = self.received = self.client_messages = self.server_messages = 0

    def apply(self, event: ev.AnyEvent) -> None:
        if len(self.events) < DEFAULT_MAX_EVENTS:
            self.events.append(event)
        # `type(...) is`: a chain of `isinstance` misses costs ~70 ns each on Structs.
        if type(event) is ev.RequestBodyChunk:
            self.sent += event.size
        elif type(event) is ev.ResponseBodyChunk:
            self.received += event.size
        elif type(event) is ev.ResponseStarted:
            self.response = event.status
        elif type(event) is ev.WebSocketMessage:
            if event.sender == "client":
                self.client_messages += 1
            else:
                self.server_messages += 1
        elif type(event) is ev.ResponseBodyWritten:
            self.received += event.size
        elif type(event) is ev.ResponseRestarted:
            if self.received == 0:  # PEP 3333: unsent headers are replaced
                self.response = event.status
        elif type(event) is ev.AppFailed:
            self.error = event
        elif type(event) is ev.WebSocketAccepted:
            self.accepted = True
        elif type(event) is ev.WebSocketDenied:
            self.denied = event.status
        elif type(event) is ev.WebSocketClosed and self.closed_accepted is None:
            self.closed_accepted = event.accepted

    def line(self, fmt: LineFormat, finished: ev.ExchangeFinished, origin: str | None) -> str:
        websocket = self.request.kind == "websocket"
        status = self.denied
        if status is None:
            if websocket and self.accepted:
                status = 101
            elif self.response is not None:
                status = self.response
            elif websocket and self.closed_accepted is False:
                status = 403  # ASGI: close before accept is an HTTP 403 to the client
        ws = None
        if websocket:
            failed = self.error is not None or finished.outcome == "failed"
            ws = (self.client_messages, self.server_messages, "failed" if failed else "closed")
        return fmt.exchange(
            self.request,
            status,
            finished.total_ns,
            self.sent,
            self.received,
            ws,
            self.error,
            origin,
            len(check([*self.events, finished])),
        )


def exchange_line(fmt: LineFormat, exchange: Exchange, origin: str | None = None) -> str:
    """The line of a folded exchange (the filtered log's; the same as `_Summary.line`)."""
    request = exchange.request
    assert request is not None
    ws = None
    if exchange.is_websocket:
        counts = exchange.message_counts
        ws = (counts["client"], counts["server"], exchange.state)
    return fmt.exchange(
        request,
        exchange.status,
        exchange.duration_ns,
        exchange.request_body.size,
        exchange.response_body.size,
        ws,
        exchange.error,
        origin,
        len(findings(exchange)),
    )


_INTERVAL = 0.05
"""How often the writer writes what was put: lines are late by at most this much."""
_WAKE_AT = 1_000
"""Lines waiting past which `put` wakes the writer at once."""


class LineWriter:
    """Writes lines on a daemon thread of its own; `put` never waits for the stream (unless
    made with `wait`).

    Past `max_lines` waiting, new lines are dropped and counted; once the writer has caught up
    it writes one line (`dropped_line(count)`) saying how many. With `wait`, `put` waits for
    room instead and `close` for the last line: nothing is dropped. A stream that fails (a
    closed pipe) ends the writing (`broken`); later lines are dropped quietly.
    """

    def __init__(
        self,
        stream: Stream,
        max_lines: int = DEFAULT_MAX_LINES,
        dropped_line: Callable[[int], str] = _PLAIN.lines_dropped,
        *,
        wait: bool = False,
    ) -> None:
        self.stream = stream
        self.max_lines = max_lines
        self.dropped_line = dropped_line
        self.wait = wait
        self.dropped = 0
        """Lines dropped since the start."""
        self.broken = False
        """The stream failed: nobody reads any more."""
        self._pending: list[str] = []
        self._unreported = 0
        self._open = True
        self._ready = threading.Condition(threading.Lock())
        self._thread = threading.Thread(target=self._run, name="inspector-console", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a daemon thread dies at exit with its lines unwritten

    def put(self, lines: Sequence[str]) -> None:
        with self._ready:
            while self.wait and self._open and len(self._pending) >= self.max_lines:
                self._ready.notify_all()
                self._ready.wait()
            if not self._open:
                self.dropped += len(lines)
                return
            room = self.max_lines - len(self._pending)
            if room < len(lines):
                lost = len(lines) - max(room, 0)
                self.dropped += lost
                self._unreported += lost
                lines = lines[: max(room, 0)]
            self._pending.extend(lines)
            if len(self._pending) >= _WAKE_AT:  # else the writer comes by on its own
                self._ready.notify_all()

    def close(self, timeout: float = 1.0) -> None:
        """Write what is queued (waiting at most `timeout` seconds for the stream, or as long
        as it takes with `wait`), then stop."""
        atexit.unregister(self.close)
        with self._ready:
            self._open = False
            self._ready.notify_all()
        self._thread.join(None if self.wait else timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                while self._open and not self._pending and not self._unreported:
                    self._ready.wait(_INTERVAL)
                if self._open and len(self._pending) < _WAKE_AT:
                    # Waking per batch would make this thread fight the collector's for the
                    # GIL a few hundred times a second: write a few times a second instead.
                    self._ready.wait(_INTERVAL)
                lines, self._pending = self._pending, []
                dropped, self._unreported = self._unreported, 0
                self._ready.notify_all()  # room again, for a `put` that waits
            if not lines and not dropped:
                return  # closed, and all written
            report = [self.dropped_line(dropped)] if dropped else []
            if not self._write("\n".join(lines + report) + "\n"):
                with self._ready:
                    self._open = False
                    self.broken = True
                    self.dropped += len(lines) + len(self._pending)
                    self._pending.clear()
                    self._ready.notify_all()
                return

    def _write(self, text: str) -> bool:
        try:
            try:
                self.stream.write(text)
            except UnicodeEncodeError:  # a stdout that cannot show "↑": show "?" instead
                encoding = getattr(self.stream, "encoding", None) or "ascii"
                self.stream.write(text.encode(encoding, "replace").decode(encoding))
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe or file: nobody reads any more
            return False
        return True


class ConsoleLog:
    """Call it with each batch of events (`log(events)`), and `log.close()` once none follow.

    `filter_text` keeps the matching exchanges (and their WebSocket messages, judged on the
    exchange as it stands when each arrives); `color` None means colour on a terminal unless
    `NO_COLOR` is set; `wait` makes the log wait for a slow stream rather than drop lines (see
    `LineWriter`). An exchange whose `RequestStarted` was not seen (dropped, or forgotten past
    `MAX_OPEN`) prints nothing.
    """

    MAX_OPEN = 10_000
    """Exchanges kept while they run; the oldest is forgotten past this (its finish is lost)."""

    def __init__(
        self,
        stream: Stream | None = None,
        filter_text: str = "",
        color: bool | None = None,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        wait: bool = False,
    ) -> None:
        stream = sys.stdout if stream is None else stream
        if color is None:
            isatty = getattr(stream, "isatty", None)
            color = not os.environ.get("NO_COLOR") and isatty is not None and bool(isatty())
        self.format = LineFormat(color)
        self.writer = LineWriter(stream, max_lines, self.format.lines_dropped, wait=wait)
        self.keep = compile_filter(filter_text)
        self.origins: dict[str, str] = {}
        """Exchange id prefix to the shown origin, from `PeerConnected`."""
        self._summaries: dict[str, _Summary] = {}
        self._exchanges: dict[str, Exchange] = {}
        self._feed = self._fold if filter_text.strip() else self._summarize

    def __call__(self, events: Sequence[ev.Event]) -> None:
        lines: list[str] = []
        self._feed(events, lines)
        if lines:
            self.writer.put(lines)

    def close(self) -> None:
        self.writer.close()

    def _summarize(self, events: Sequence[ev.Event], lines: list[str]) -> None:
        summaries = self._summaries
        for event in cast("Sequence[ev.AnyEvent]", events):
            xid = event.exchange_id
            if type(event) is ev.CaptureFailed:
                lines.append(self.format.capture_failed(event))
            if type(event) is ev.ExchangeFinished:
                summary = summaries.pop(xid, None)
                if summary is not None:
                    lines.append(summary.line(self.format, event, self.origins.get(prefix_of(xid))))
            elif type(event) is ev.RequestStarted:
                summary = summaries.get(xid)
                if summary is None:
                    summaries[xid] = _Summary(event)
                    if len(summaries) > self.MAX_OPEN:
                        del summaries[next(iter(summaries))]
                else:
                    summary.request = summary.events[0] = event
            elif xid:
                summary = summaries.get(xid)
                if summary is not None:
                    summary.apply(event)
                    if type(event) is ev.WebSocketMessage:
                        lines.append(self.format.message(event))
            else:
                self._other(event, lines)

    def _fold(self, events: Sequence[ev.Event], lines: list[str]) -> None:
        exchanges = self._exchanges
        for event in events:
            xid = event.exchange_id
            if type(event) is ev.CaptureFailed:
                lines.append(self.format.capture_failed(event))
            if not xid:
                self._other(event, lines)
                continue
            exchange = exchanges.get(xid)
            if exchange is None:
                if not isinstance(event, ev.RequestStarted):
                    continue  # its start was lost (dropped, or forgotten past MAX_OPEN)
                exchange = exchanges[xid] = Exchange(xid)
                if len(exchanges) > self.MAX_OPEN:
                    del exchanges[next(iter(exchanges))]
            exchange.apply(event)
            if isinstance(event, ev.WebSocketMessage):
                if self.keep.test(exchange):
                    lines.append(self.format.message(event))
            elif isinstance(event, ev.ExchangeFinished):
                del exchanges[xid]
                if self.keep.test(exchange):
                    origin = self.origins.get(prefix_of(xid))
                    lines.append(exchange_line(self.format, exchange, origin))

    def _other(self, event: ev.Event, lines: list[str]) -> None:
        """Events of no exchange: reports of drops, and peers coming and going."""
        if isinstance(event, ev.EventsDropped):
            lines.append(self.format.events_dropped(event))
        elif isinstance(event, ev.PeerConnected):
            origin = _safe(str(Origin(event.host, event.pid, event.name)))
            self.origins[event.prefix] = origin
            lines.append(self.format.peer(origin, f"on {event.host} connected"))
        elif isinstance(event, ev.PeerDisconnected):
            origin = self.origins.get(event.prefix, f"peer {_safe(event.prefix)}")
            lines.append(self.format.peer(origin, event.reason))
