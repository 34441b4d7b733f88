"""The Messages pane of a WebSocket exchange: the conversation, its filter and one message open.

Rows show the direction, time since the handshake, size and a preview (text, or hex for
bytes); the message under the cursor is shown in full below (JSON pretty-printed). The list
is a `VirtualList` that appends as messages arrive and follows them while the cursor is on
the newest, as the exchange list does; moved up, the reader's position never jumps. Its
own filter, in the `~` language of intercept (`~from client`, `~text`, `~size >1k`, `~b RE`,
a bare word for `~b`), is compiled once per edit (`compile_rule`) and then only evaluated
(`matches`), so refiltering the message cap stays instant; a mistake is shown with its
position and the list keeps the last good filter. Messages the viewer injected are marked.
The close code and reason head the pane.
"""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

from inspector import events as ev
from inspector.matching import Anything, Rule, matches
from inspector.observe.exchange import Exchange
from inspector.observe.filters import FilterError
from inspector.observe.rules import compile_rule, message_subject
from tui.console import size
from tui.widgets.body import hex_dump, highlight
from tui.widgets.cells import printable
from tui.widgets.filter_bar import error_text
from tui.widgets.virtual_list import VirtualList


def preview(message: ev.WebSocketMessage) -> str:
    if message.size and not (message.text or message.data):
        return "(payload not kept: past the byte budget)"
    if message.text is not None:
        return printable(message.text[:400].replace("\n", "⏎"))
    return (message.data or b"")[:48].hex(" ")


class MessageList(VirtualList[ev.WebSocketMessage]):
    def __init__(self, start_ns: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.start_ns = start_ns

    def render_header(self, width: int) -> Text:
        return Text(f"    {'at':>13} {'size':>10}  message")

    def render_row(self, row: ev.WebSocketMessage, index: int, width: int) -> Text:
        client = row.sender == "client"
        arrow = ("→", "bold green") if client else ("←", "bold cyan")
        kind = "" if row.text is not None else "bin "
        return Text.assemble(
            " ",
            arrow,
            "  ",
            (f"{(row.at_ns - self.start_ns) / 1e6:>10,.3f} ms", "dim"),
            f" {size(row.size):>10}  ",
            ("injected ", "bold yellow") if row.injected else "",
            (kind, "magenta"),
            (preview(row), "" if row.text is not None else "cyan"),
        )


def expanded(message: ev.WebSocketMessage) -> RenderableType:
    if message.data is not None:
        return hex_dump(message.data)
    text = message.text or ""
    try:
        value = json.loads(text)
    except ValueError:
        return Text(printable(text, multiline=True))
    if not isinstance(value, dict | list):
        return Text(printable(text, multiline=True))
    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    return highlight(printable(pretty, multiline=True), "json")


class MessagesPane(Vertical):
    DEFAULT_CSS = """
    MessagesPane > .state { padding: 0 1; height: auto; }
    MessagesPane > Input { border: none; height: 1; padding: 0 1; margin: 0 1; }
    MessagesPane > Input:focus { border: none; }
    MessagesPane > .error { color: $error; padding: 0 1; height: auto; display: none; }
    MessagesPane > .error.-shown { display: block; }
    MessagesPane > MessageList { height: 1fr; }
    MessagesPane > VerticalScroll {
        height: 1fr; border-top: solid $primary-darken-2; padding: 0 1;
    }
    """

    def __init__(self, exchange: Exchange, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.exchange = exchange
        self.rule: Rule | None = None
        """The filter, compiled; None keeps every message."""
        self._seen = 0
        start = exchange.request.at_ns if exchange.request is not None else 0
        self.list = MessageList(start)

    def compose(self) -> ComposeResult:
        yield Static(classes="state")
        yield Input(placeholder="filter messages: ~from client, ~text, ~size >1k, ~b regex, word")
        yield Static(classes="error")
        yield self.list
        with VerticalScroll():
            yield Static(classes="expanded")

    def on_mount(self) -> None:
        self.show(self.exchange)  # following, as the exchange list does: the newest in view

    def show(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.query_one(".state", Static).update(_state(exchange))
        fresh = exchange.messages[self._seen :]
        self._seen = len(exchange.messages)
        self.list.extend([m for m in fresh if self._keeps(m)])
        if fresh or not self.list.rows:
            self._expand()

    def _keeps(self, message: ev.WebSocketMessage) -> bool:
        return self.rule is None or matches(self.rule, message_subject(message))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        error = self.query_one(".error", Static)
        try:
            rule = compile_rule(event.value, "messages")
        except FilterError as exc:
            error.update(error_text(event.value, exc))
            error.add_class("-shown")
            return
        error.remove_class("-shown")
        self.filter(None if isinstance(rule, Anything) else rule)

    def filter(self, rule: Rule | None) -> None:
        """Keep the messages `rule` matches (None: all), the cursor on the same one if kept."""
        self.rule = rule
        keep = self.list.current
        messages = self.exchange.messages
        if rule is not None:
            messages = [m for m in messages if matches(rule, message_subject(m))]
        self.list.set_rows(list(messages), keep=keep)
        self._expand()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.list.focus()

    def on_virtual_list_cursor_moved(self, event: VirtualList.CursorMoved) -> None:
        event.stop()
        self._expand()

    def on_virtual_list_selected(self, event: VirtualList.Selected) -> None:
        event.stop()
        self._expand()

    def _expand(self) -> None:
        message = self.list.current
        target = self.query_one(".expanded", Static)
        if message is None:
            target.update(Text("no message" if not self.list.rows else "", style="dim"))
            return
        who = "client → app" if message.sender == "client" else "app → client"
        kind = "text" if message.text is not None else "binary"
        head = Text(f"{who} · {kind} · {size(message.size)}", style="bold")
        if message.injected:
            head.append(" · injected from this viewer", style="bold yellow")
        if (message.text is not None and len(message.text.encode()) < message.size) or (
            message.data is not None and len(message.data) < message.size
        ):
            head.append(" · cut at the capture limit", style="yellow")
        target.update(Group(head, expanded(message)))


def _state(exchange: Exchange) -> Text:
    counts = exchange.message_counts
    text = Text.assemble(
        (exchange.state, "bold green" if exchange.state == "open" else "bold"),
        f" · {counts['client']} → app · {counts['server']} ← app",
    )
    if exchange.accepted is not None and exchange.accepted.subprotocol:
        text.append(printable(f" · subprotocol {exchange.accepted.subprotocol}"))
    if exchange.messages_dropped:
        text.append(f" · {exchange.messages_dropped:,} not kept", style="yellow")
    if exchange.payloads_not_kept:
        payloads = f" · {exchange.payloads_not_kept:,} payloads not kept"
        text.append(f"{payloads} ({size(exchange.payload_bytes_not_kept)})", style="yellow")
    held = sum(hold.what == "message" for hold in exchange.holds.values())
    if held:
        text.append(f" · {held} held by intercept (I)", style="bold yellow")
    closed = exchange.closed
    if closed is not None:
        reason = f" {closed.reason!r}" if closed.reason else ""
        closing = f" · closed by {closed.sender}: code {closed.code}{reason}"
        text.append(printable(closing), style="magenta")
    return text
