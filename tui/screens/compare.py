"""The Compare screen: an exchange and its ↻ replay side by side, differences highlighted.

It shows `inspector.observe.compare.compare(original, replay)`: the status (for a WebSocket
also the subprotocol and the close), the answer's header fields, the body and, for a
WebSocket, the server's messages, original on the left and replay on the right. A row that
differs is marked in the middle column (`≠` changed, `-` only in the original, `+` only in
the replay, `≈` differs by design, as Date does) and coloured; the title says whether the
answers are the same. `show()` redraws it after more events of either exchange (a replay
still running), as the detail screen's does.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from inspector.observe.compare import Comparison, Row, compare
from inspector.observe.exchange import Exchange
from tui.widgets.cells import printable
from tui.widgets.footer import KeyFooter

_MARKS = {"same": " ", "changed": "≠", "removed": "-", "added": "+", "ignored": "≈"}
_STYLES = {
    "same": ("", ""),
    "changed": ("yellow", "bold yellow"),
    "removed": ("bold red", ""),
    "added": ("", "bold green"),
    "ignored": ("dim", "dim"),
}
_SHOWN = 400
"""Characters of one line shown (a long JSON message is cut, never the comparison)."""


class CompareScreen(Screen[None]):
    DEFAULT_CSS = """
    CompareScreen #compare-title { height: 1; background: $panel; padding: 0 1; }
    CompareScreen #compare-body { height: 1fr; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, original: Exchange, replay: Exchange) -> None:
        super().__init__()
        self.original = original
        self.replay = replay
        self.heading = Static(id="compare-title")
        self.rows = Static(id="compare-rows")

    def compose(self) -> ComposeResult:
        yield self.heading
        with VerticalScroll(id="compare-body"):
            yield self.rows
        yield KeyFooter()

    def on_mount(self) -> None:
        self.show(self.original, self.replay)
        self.query_one("#compare-body").focus()

    def show(self, original: Exchange, replay: Exchange) -> None:
        """Compare again (the same objects after more events, or others)."""
        self.original, self.replay = original, replay
        comparison = compare(original, replay)
        self.heading.update(_title(original, comparison))
        self.rows.update(_rows(comparison))


def _title(original: Exchange, comparison: Comparison) -> Text:
    request = original.request
    what = f"{request.method} {original.url}" if request is not None else original.id
    title = Text.assemble((" ↻ compare ", "reverse"), " ", printable(what), "   ")
    if comparison.same:
        title.append("same answer", style="bold green")
    else:
        count = sum(not row.same for part in comparison.parts.values() for row in part)
        title.append(f"{count} difference{'s' * (count != 1)}", style="bold yellow")
    return title


def _rows(comparison: Comparison) -> RenderableType:
    sections: list[RenderableType] = []
    parts = [
        ("Status", comparison.status),
        ("Handshake answer" if comparison.websocket else "Response headers", comparison.headers),
    ]
    if comparison.body:
        parts.append((f"Body ({comparison.body_note})", comparison.body))
    if comparison.websocket:
        parts.append(("Server messages", comparison.messages))
    for heading, rows in parts:
        sections.append(Text(heading, style="bold underline"))
        sections.append(_table(rows) if rows else Text("  (none on either side)", style="dim"))
        sections.append(Text(""))
    return Group(*sections)


def _table(rows: tuple[Row, ...]) -> Table:
    table = Table(box=None, expand=True, show_edge=False, pad_edge=False, padding=(0, 1))
    table.add_column("Original", ratio=1, overflow="fold")
    table.add_column("", width=1, no_wrap=True)
    table.add_column("Replay", ratio=1, overflow="fold")
    for row in rows:
        left, right = _STYLES[row.kind]
        table.add_row(
            _cell(row.original, left),
            Text(_MARKS[row.kind], style="bold"),
            _cell(row.replay, right),
        )
    return table


def _cell(text: str | None, style: str) -> Text:
    if text is None:
        return Text("")
    shown = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
    return Text(printable(shown), style=style)
