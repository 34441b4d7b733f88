"""The Events pane: the raw event timeline of one exchange, one line per event.

What no other tool shows: every fact capture recorded, in order, with its time relative to
`RequestStarted` in milliseconds and the gap since the previous event, so a slow first byte,
a stalled stream or a late `close()` is plain to see. A `VirtualList`, since a long stream
or WebSocket can hold thousands of events; it follows new events while the cursor is last.
"""

from __future__ import annotations

from rich.text import Text

from inspector import events as ev
from inspector.observe.exchange import Exchange
from tui.widgets.cells import duration, printable, size
from tui.widgets.virtual_list import VirtualList

_STYLES = {
    "RequestStarted": "bold cyan",
    "ResponseStarted": "bold green",
    "ExchangeFinished": "bold",
    "AppFailed": "bold red",
    "CaptureFailed": "yellow",
    "ClientDisconnected": "yellow",
    "WebSocketClosed": "magenta",
    "EventsDropped": "yellow",
}


def describe(event: ev.Event) -> str:
    """The facts of one event that matter when reading a timeline."""
    match event:
        case ev.RequestStarted():
            query = "?" + event.query.decode("latin-1") if event.query else ""
            return (
                f"{event.method} {event.path}{query}  {event.source} {event.kind} "
                f"HTTP/{event.http_version}  {len(event.headers)} headers"
            )
        case ev.RequestBodyChunk() | ev.ResponseBodyChunk():
            kept = "" if len(event.data) == event.size else f" (kept {size(len(event.data))})"
            return f"{size(event.size)}{kept}  more_body={event.more_body}"
        case ev.ResponseBodyWritten():
            return f"write() {size(event.size)}"
        case ev.ResponseStarted() | ev.WebSocketDenied():
            reason = (
                f" {event.reason}" if isinstance(event, ev.ResponseStarted) and event.reason else ""
            )
            return f"{event.status}{reason}  {len(event.headers)} headers"
        case ev.ResponseRestarted():
            return f"{event.status} {event.reason}  exc_info: {event.error}"
        case ev.ResponseFileSent():
            return f"{event.via} {event.path or ''} offset={event.offset} count={event.count}"
        case ev.ResponseTrailers():
            return f"{len(event.headers)} trailers  more_trailers={event.more_trailers}"
        case ev.MessageRelayed():
            return f"{event.direction} {event.type}"
        case ev.AppFailed():
            return f"{event.type}: {event.message}  response_started={event.response_started}"
        case ev.ExchangeFinished():
            parts = [event.outcome, f"total {duration(event.total_ns)}"]
            if event.request_ns is not None:
                parts.append(f"request read {duration(event.request_ns)}")
            if event.first_byte_ns is not None:
                parts.append(f"first byte {duration(event.first_byte_ns)}")
            return "  ".join(parts)
        case ev.WebSocketAccepted():
            return f"subprotocol={event.subprotocol}  {len(event.headers)} headers"
        case ev.WebSocketMessage():
            arrow = "client → app" if event.sender == "client" else "app → client"
            kind = "text" if event.text is not None else "bytes"
            return f"{arrow}  {kind} {size(event.size)}"
        case ev.WebSocketClosed():
            return (
                f"by {event.sender}  code {event.code} {event.reason!r}  accepted={event.accepted}"
            )
        case ev.CaptureFailed():
            return f"in {event.where}: {event.error}"
        case ev.EventsDropped():
            return f"{event.count} dropped ({event.total} in all) at {event.where}"
    return ""


class EventList(VirtualList[ev.Event]):
    def __init__(self, exchange: Exchange, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.exchange = exchange
        self.name_width = 5

    def on_mount(self) -> None:
        self.follow = False
        self.show(self.exchange)
        self.move_cursor(0)

    def show(self, exchange: Exchange) -> None:
        self.exchange = exchange
        fresh = exchange.events[len(self.rows) :]
        if fresh:
            names = (len(type(event).__name__) for event in fresh)
            self.name_width = max(self.name_width, *names)
            self.extend(fresh)

    def render_header(self, width: int) -> Text:
        dropped = self.exchange.events_dropped
        note = f"   ({dropped:,} later events not kept)" if dropped else ""
        return Text(f"{'at':>14}{'gap':>14}  {'event':<{self.name_width}}  details{note}")

    def render_row(self, row: ev.Event, index: int, width: int) -> Text:
        start = self.rows[0].at_ns
        gap = row.at_ns - self.rows[index - 1].at_ns if index else 0
        name = type(row).__name__
        return Text.assemble(
            (f"{(row.at_ns - start) / 1e6:>11,.3f} ms", "bold"),
            (f"{f'+{gap / 1e6:,.3f}':>11} ms" if index else " " * 14, "dim"),
            "  ",
            (f"{name:<{self.name_width}}", _STYLES.get(name, "")),
            "  ",
            printable(describe(row)),
        )
