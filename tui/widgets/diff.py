"""The Diff pane: one request as it crossed the proxy and as the app received and answered it.

For a paired exchange (see `inspector.observe.pairing`) it shows how the pair was found, the
time split (before the app, in the app, after the app, and what capture cost there), the facts
that may differ (HTTP version, client, framing, body bytes) and every header of both sides
with what the server changed; `inspector.observe.diff` computes all of it. An exchange with no
pair says why.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector.observe.diff import Diff, Split, diff
from inspector.observe.exchange import Exchange
from inspector.observe.pairing import partner
from tui.widgets.cells import duration, printable

_REQUEST_CHANGE = {
    "same": ("", ""),
    "added": ("added by the server", "green"),
    "removed": ("not passed to the app", "red"),
    "changed": ("changed", "yellow"),
    "moved": ("moved", "cyan"),
}
_RESPONSE_CHANGE = {
    "same": ("", ""),
    "added": ("dropped by the server", "red"),
    "removed": ("added by the server", "green"),
    "changed": ("changed", "yellow"),
    "moved": ("moved", "cyan"),
}
_SPLIT_STYLES = (("before the app", "cyan"), ("in the app", "green"), ("after the app", "yellow"))


def diff_view(exchange: Exchange, width: int) -> RenderableType:
    pair = exchange.pair
    if pair is None:
        why = exchange.unpaired or (
            "not paired (yet): a diff needs this request seen by inspect-proxy and by the "
            "wrapped app"
        )
        return Text(printable(f"Unpaired: {why}", multiline=True), style="dim")
    result = diff(pair)
    forwarded = pair.proxy.forwarded
    title = Text.assemble(("⇄ ", "bold cyan"), (result.how, "bold"))
    if forwarded is not None and forwarded.local is not None and pair.how == "exact":
        local = f"{forwarded.local[0]}:{forwarded.local[1]}"
        title.append(f": the proxy's upstream connection from {local}, request ", "dim")
        title.append(f"{forwarded.sequence} there", "dim")
    elif pair.how == "content":
        title.append(": the server rewrote the client address; same method, target, time", "dim")
    count = result.differences
    title.append(f"   {count} difference{'s' * (count != 1)}", "bold yellow" if count else "dim")
    return Group(
        title,
        Text(),
        _split(result.split, width),
        Text(),
        _facts(result),
        Text(),
        _headers("Request headers", "through the proxy", "as the app got them", result, True),
        Text(),
        _headers("Response headers", "as the app sent them", "through the proxy", result, False),
    )


def _split(split: Split, width: int) -> RenderableType:
    parts = (split.before, split.app, split.after)
    if split.total is None or any(part is None for part in parts):
        return Text("time split: once both sides have finished", style="dim")
    total = max(split.total, 1)
    bar = max(width - 2, 10)
    line = Text()
    legend = Text()
    for (name, style), ns in zip(_SPLIT_STYLES, parts, strict=True):
        assert ns is not None
        cells = max(round(max(ns, 0) / total * bar), 1)
        line.append("█" * cells, style)
        legend.append("■ ", style)
        legend.append(f"{name} {duration(max(ns, 0)) or '0'}   ")
    legend.append(f"proxy total {duration(split.total)}", "bold")
    if split.capture is not None:
        legend.append(f"   capture cost in the app {duration(split.capture) or '0'}", "magenta")
    return Group(Text("Time split", style="bold underline"), line[:bar], legend)


def _facts(result: Diff) -> RenderableType:
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold dim")
    table.add_column("")
    table.add_column("through the proxy")
    table.add_column("in the app")
    table.add_column("")
    for fact in result.facts:
        mark = Text("=", "dim") if fact.same else Text("≠", "bold yellow")
        style = "" if fact.same else "yellow"
        table.add_row(fact.what, Text(printable(fact.proxy), style), printable(fact.app), mark)
    return Group(Text("Request and response", style="bold underline"), table)


def _headers(title: str, left: str, right: str, result: Diff, request: bool) -> RenderableType:
    rows = result.request_headers if request else result.response_headers
    changes = _REQUEST_CHANGE if request else _RESPONSE_CHANGE
    if not rows:
        return Text(f"{title}: none", style="dim")
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold dim")
    table.add_column("name")
    table.add_column(left)
    table.add_column(right)
    table.add_column("")
    for row in rows:
        first, second = (row.proxy, row.app) if request else (row.app, row.proxy)
        word, style = changes[row.change]
        name = Text(printable(row.name), "bold blue" if row.proxy_header else "")
        table.add_row(name, _values(first), _values(second), Text(word, style))
    return Group(Text(title, style="bold underline"), table)


def _values(values: tuple[str, ...]) -> Text:
    if not values:
        return Text("—", style="dim")
    return Text(printable("\n".join(values), multiline=True))


class DiffPane(VerticalScroll):
    DEFAULT_CSS = "DiffPane { padding: 1 1; }"

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
        other = partner(exchange)
        signature = (
            len(exchange.events),
            None if other is None else len(other.events),
            exchange.unpaired,
            self.size.width,
        )
        if signature != self._signature and self.size.width:
            self._signature = signature
            self.query_one(Static).update(diff_view(exchange, self.size.width - 2))
