"""What the intercept screen shows of held traffic: the list of holds and one hold in full.

A hold is a `TrafficHeld` event still in its exchange's `holds` (the relay has not let it go).
Rows show the hold's number, what it is (a message and its direction, a request, a response),
its size and a preview: a message's text or hex, an HTTP head's first line. `hold_detail`
renders the one under the cursor: the exchange's URL, then the payload (JSON pretty-printed,
bytes as a hex dump) or the head and body, and why it cannot be edited when it cannot.
"""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.text import Text

from inspector.events import TrafficHeld
from inspector.observe.exchange import Exchange
from tui.console import size
from tui.widgets.body import hex_dump, highlight
from tui.widgets.cells import printable
from tui.widgets.virtual_list import VirtualList

Held = tuple[Exchange, TrafficHeld]
TEXT = 1


def what(hold: TrafficHeld) -> tuple[str, str]:
    """A few words for what is held, and their style."""
    if hold.what == "message":
        if hold.sender == "client":
            return "message → app", "bold green"
        return "message ← app", "bold cyan"
    if hold.what == "request":
        return "request → app", "bold green"
    return "response ← app", "bold cyan"


def preview(hold: TrafficHeld) -> str:
    if hold.what != "message":
        return printable(hold.head.split(b"\r\n", 1)[0].decode("latin-1"))
    if hold.opcode == TEXT:
        return printable(hold.body[:400].decode("utf-8", "replace").replace("\n", "⏎"))
    return hold.body[:48].hex(" ")


class HoldList(VirtualList[Held]):
    def render_header(self, width: int) -> Text:
        return Text(f" {'hold':>5}  {'what':<15} {'size':>10}  content")

    def render_row(self, row: Held, index: int, width: int) -> Text:
        hold = row[1]
        label, style = what(hold)
        binary = hold.what == "message" and hold.opcode != TEXT
        return Text.assemble(
            (f" #{hold.hold:<4} ", "bold yellow"),
            (f" {label:<15}", style),
            f"{size(hold.size):>10}  ",
            ("bin " if binary else "", "magenta"),
            (preview(hold), "cyan" if binary else ""),
        )

    def empty_lines(self) -> list[Text]:
        return [Text("Nothing is held.", "dim")]


def hold_detail(held: Held | None) -> RenderableType:
    if held is None:
        return Text("")
    exchange, hold = held
    label, style = what(hold)
    head = Text.assemble(
        (f"#{hold.hold} ", "bold yellow"), (label, style), f" · {size(hold.size)} · "
    )
    head.append(printable(exchange.url or exchange.id), "cyan")
    parts: list[RenderableType] = [head]
    if hold.editable:
        parts.append(Text(printable(f"not editable: {hold.editable}"), style="yellow"))
    if hold.what != "message":
        parts.append(Text(printable(hold.head.decode("latin-1").rstrip(), multiline=True)))
    parts.append(payload(hold))
    if len(hold.body) < hold.size:
        parts.append(Text(f"(first {size(len(hold.body))} shown)", style="dim"))
    return Group(*parts)


def payload(hold: TrafficHeld) -> RenderableType:
    body = hold.body
    if not body:
        return Text("(empty)" if hold.what == "message" else "(no body)", style="dim")
    if hold.what == "message" and hold.opcode != TEXT:
        return hex_dump(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return hex_dump(body)
    try:
        value = json.loads(text)
    except ValueError:
        return Text(printable(text, multiline=True))
    if not isinstance(value, dict | list):
        return Text(printable(text, multiline=True))
    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    return highlight(printable(pretty, multiline=True), "json")
