"""The Timing pane: a waterfall of the phases we recorded, and when each body chunk arrived.

Phases come from `ExchangeFinished` (request sent until `request_ns`, waiting until
`first_byte_ns`, receiving until `total_ns`); ticks mark every body chunk (and, for a
WebSocket, every message) at its offset from `RequestStarted`. While the exchange streams, the
last event seen stands in for the end.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector import events as ev
from inspector.observe.exchange import Exchange
from tui.widgets.cells import duration

_LABEL = 16
_BAR_STYLES = {"request sent": "cyan", "waiting": "yellow", "receiving": "green"}


def waterfall(exchange: Exchange, width: int) -> RenderableType:
    request = exchange.request
    if request is None or not exchange.events:
        return Text("no timing: the request was not captured", style="dim")
    start = request.at_ns
    finished = exchange.finished
    end = finished.total_ns if finished is not None else exchange.events[-1].at_ns - start
    end = max(end, 1)
    bar = max(width - _LABEL - 13, 10)

    def column(ns: int) -> int:
        return min(max(round(ns / end * bar), 0), bar - 1)

    lines: list[Text] = [_scale(end, bar)]
    for name, lo, hi in _phases(exchange, end):
        line = Text(f"{name:<{_LABEL}}")
        first, last = column(lo), max(column(hi), column(lo))
        line.append(" " * first)
        line.append("█" * (last - first + 1), _BAR_STYLES.get(name, "magenta"))
        line.append(" " * (bar - last - 1))
        line.append(f" {duration(hi - lo):>12}")
        lines.append(line)
    for name, ticks in _ticks(exchange, start):
        if not ticks:
            continue
        row = [" "] * bar
        for ns in ticks:
            row[column(ns)] = "│"
        line = Text(f"{name:<{_LABEL}}")
        line.append("".join(row), "bold blue")
        line.append(f" {len(ticks):>6} tick" + "s" * (len(ticks) != 1))
        lines.append(line)
    total = Text(f"{'total':<{_LABEL}}")
    total.append("━" * bar, "bold")
    total.append(f" {duration(end):>12}", "bold")
    lines.append(total)
    if finished is None:
        lines.append(Text("still in progress: the end is the last event seen", style="dim italic"))
    return Group(*lines, Text(), _phase_table(exchange, end), *_costs(exchange))


def _costs(exchange: Exchange) -> list[RenderableType]:
    """What the tool itself added: capture's time in the app's process, and the proxy's hop
    (until it forwarded the request; with a pair, all it added before and after the app)."""
    lines: list[RenderableType] = []
    finished = exchange.finished
    pair = exchange.pair
    app = pair.app if pair is not None else exchange
    app_finished = app.finished
    if app_finished is not None and app_finished.capture_ns is not None:
        cost, total = app_finished.capture_ns, max(app_finished.total_ns, 1)
        line = Text(f"{'capture cost':<{_LABEL}}", "bold")
        line.append(f"{duration(cost) or '0'} in the app's process", "magenta")
        line.append(f" ({cost / total:.1%} of the app's {duration(total)})", "dim")
        lines.append(line)
    forwarded = exchange.forwarded
    if forwarded is not None and exchange.request is not None:
        hop = forwarded.at_ns - exchange.request.at_ns
        line = Text(f"{'proxy hop':<{_LABEL}}", "bold")
        line.append(f"forwarded {duration(hop) or '0'} after the head arrived", "cyan")
        if pair is not None and finished is not None and app_finished is not None:
            added = finished.total_ns - app_finished.total_ns
            line.append(f"; {duration(max(added, 0)) or '0'} around the app in all", "dim")
        lines.append(line)
    return [Text(), *lines] if lines else []


def _scale(end: int, bar: int) -> Text:
    labels = [" "] * (bar + 12)
    ticks = ["─"] * bar
    for pos in (0, bar // 4, bar // 2, 3 * bar // 4, bar - 1):
        ticks[pos] = "┬"
        label = duration(round(end * pos / max(bar - 1, 1)))
        at = 0 if pos == 0 else pos - len(label) + 1 if pos == bar - 1 else pos - len(label) // 2
        labels[at : at + len(label)] = label
    pad = " " * _LABEL
    return Text(f"{pad}{''.join(labels).rstrip()}\n{pad}{''.join(ticks)}", style="dim")


def _phases(exchange: Exchange, end: int) -> list[tuple[str, int, int]]:
    finished = exchange.finished
    if exchange.is_websocket:
        opened = exchange.accepted or exchange.denied or exchange.closed
        opened_ns = opened.at_ns - exchange.events[0].at_ns if opened is not None else end
        return [("handshake", 0, opened_ns), ("connection", opened_ns, end)]
    request_ns = finished.request_ns if finished is not None else None
    first_byte = finished.first_byte_ns if finished is not None else None
    if first_byte is None and exchange.response is not None and exchange.request is not None:
        first_byte = exchange.response.at_ns - exchange.request.at_ns
    sent = request_ns if request_ns is not None else 0
    phases = [("request sent", 0, sent)]
    if first_byte is not None:
        phases.append(("waiting", sent, max(first_byte, sent)))
        phases.append(("receiving", first_byte, end))
    else:
        phases.append(("waiting", sent, end))
    return phases


def _ticks(exchange: Exchange, start: int) -> list[tuple[str, list[int]]]:
    request: list[int] = []
    response: list[int] = []
    client: list[int] = []
    server: list[int] = []
    for event in exchange.events:
        offset = event.at_ns - start
        if isinstance(event, ev.RequestBodyChunk) and event.size:
            request.append(offset)
        elif isinstance(event, ev.ResponseBodyChunk | ev.ResponseBodyWritten) and event.size:
            response.append(offset)
        elif isinstance(event, ev.WebSocketMessage):
            (client if event.sender == "client" else server).append(offset)
    return [
        ("request chunks", request),
        ("response chunks", response),
        ("client → app", client),
        ("app → client", server),
    ]


def _phase_table(exchange: Exchange, end: int) -> RenderableType:
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold dim")
    table.add_column("phase")
    table.add_column("starts", justify="right")
    table.add_column("ends", justify="right")
    table.add_column("takes", justify="right")
    for name, lo, hi in _phases(exchange, end):
        table.add_row(name, duration(lo) or "0", duration(hi) or "0", duration(hi - lo) or "0")
    return table


class TimingPane(VerticalScroll):
    DEFAULT_CSS = "TimingPane { padding: 1 1; }"

    def __init__(self, exchange: Exchange, *, id: str | None = None) -> None:
        super().__init__(Static(), id=id)
        self.exchange = exchange
        self._signature: tuple[object, ...] = ()

    def on_mount(self) -> None:
        self.show(self.exchange)

    def on_resize(self) -> None:
        self._signature = ()
        self.show(self.exchange)

    def show(self, exchange: Exchange) -> None:
        self.exchange = exchange
        pair = exchange.pair
        signature = (
            len(exchange.events),
            exchange.finished,
            None if pair is None else pair.app.finished,
            self.size.width,
        )
        if signature != self._signature and self.size.width:
            self._signature = signature
            self.query_one(Static).update(waterfall(exchange, self.size.width - 2))
