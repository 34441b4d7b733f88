"""The headless log: one line per finished exchange and per WebSocket message, as they happen.

A bus subscriber (it runs on the bus thread) that folds events into exchanges and prints with
rich, in colour on a terminal and plain otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from inspector import events as ev
from inspector.exchange import Exchange, fold
from inspector.filters import compile_filter
from inspector.store import Origin, prefix_of

_STATUS_STYLE = {1: "cyan", 2: "green", 3: "blue", 4: "yellow", 5: "bold red"}


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def exchange_line(exchange: Exchange, origin: Origin | None = None) -> str:
    request = exchange.request
    assert request is not None
    status = exchange.status
    style = _STATUS_STYLE.get((status or 0) // 100, "magenta")
    shown = "ERR" if status is None else str(status)
    clock = time.strftime("%H:%M:%S", time.localtime(request.wall_time))
    target = request.path + ("?" + request.query.decode("latin-1") if request.query else "")
    duration = "" if exchange.duration_ns is None else f"{exchange.duration_ns / 1e6:8.1f} ms"
    sent, received = size(exchange.request_body.size), size(exchange.response_body.size)
    line = (
        f"{clock} {request.source:5} {request.method:7} [{style}]{shown:>3}[/] "
        f"{duration} ↑{sent:>9} ↓{received:>9}  {escape(target)}"
    )
    if origin is not None:
        line += f"  [dim]{escape(str(origin))}[/]"
    if exchange.is_websocket:
        counts = exchange.message_counts
        line += f"  [dim]ws {counts['client']}↑ {counts['server']}↓ {exchange.state}[/]"
    if exchange.error is not None:
        line += f"  [red]{escape(exchange.error.type)}: {escape(exchange.error.message)}[/]"
    return line


def message_line(message: ev.WebSocketMessage) -> str:
    arrow = "→ app" if message.sender == "client" else "← app"
    if message.text is not None:
        preview = repr(message.text[:60])
    else:
        preview = (message.data or b"")[:24].hex(" ")
    return f"         [dim]ws {arrow} {size(message.size):>9}[/]  {escape(preview)}"


class ConsoleLog:
    """Subscribe with `bus.subscribe(ConsoleLog())`; `filter_text` keeps matching exchanges."""

    def __init__(self, console: Console | None = None, filter_text: str = "") -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.exchanges: dict[str, Exchange] = {}
        self.origins: dict[str, Origin] = {}
        self.keep = compile_filter(filter_text)

    MAX_OPEN = 10_000
    """Exchanges kept while they run; one whose finish never comes is dropped past this."""

    def __call__(self, events: Sequence[ev.Event]) -> None:
        fold(events, self.exchanges)
        while len(self.exchanges) > self.MAX_OPEN:
            del self.exchanges[next(iter(self.exchanges))]
        for event in events:
            if isinstance(event, ev.WebSocketMessage):
                exchange = self.exchanges.get(event.exchange_id)
                if exchange is not None and self.keep(exchange):
                    self.console.print(message_line(event))
            elif isinstance(event, ev.ExchangeFinished):
                exchange = self.exchanges.pop(event.exchange_id, None)
                if exchange is not None and exchange.request is not None and self.keep(exchange):
                    origin = self.origins.get(prefix_of(event.exchange_id))
                    self.console.print(exchange_line(exchange, origin))
            elif isinstance(event, ev.EventsDropped):
                self.console.print(f"[yellow]{event.count} events dropped ({event.where})[/]")
            elif isinstance(event, ev.PeerConnected):
                origin = self.origins[event.prefix] = Origin(event.host, event.pid, event.name)
                self.console.print(
                    f"[dim]{escape(str(origin))} on {escape(event.host)} connected[/]"
                )
            elif isinstance(event, ev.PeerDisconnected):
                origin = self.origins.get(event.prefix)
                self.console.print(f"[dim]{escape(str(origin))} {escape(event.reason)}[/]")
