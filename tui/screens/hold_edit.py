"""Editing a held message, request or response before it goes on; and the choice offered when
it cannot be edited.

`HoldEditScreen` shows a held WebSocket message's payload (text, or hex for a binary one), or
a held HTTP head and body (the body as text when it is UTF-8, else as hex), in text areas;
ctrl+s dismisses with the `Edited` values (hex checked as the inject screen checks it, the
head's lines sent with CRLF and ending with the blank line), escape with None.
`NotEditableScreen` says why a hold cannot be edited (the relay's `editable` sentence) and
dismisses with "forward", "inject" (a message: send a changed copy instead) or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from inspector.events import TrafficHeld
from tui.screens.inject import BINARY, PayloadError, encode
from tui.widgets.cells import printable

_MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 90; height: auto; max-height: 95%; padding: 0 1;
    border: thick $warning; background: $surface;
}}
{name} Static {{ height: auto; }}
{name} TextArea {{ height: auto; max-height: 12; min-height: 3; margin-top: 1; }}
{name} #edit-error {{ color: $error; }}
{name} Horizontal {{ height: auto; margin-top: 1; align-horizontal: right; }}
{name} Button {{ margin-left: 2; }}
"""


@dataclass(frozen=True, slots=True)
class Edited:
    """A message's new `opcode` and `payload`, or a request's or response's `head` and `body`."""

    opcode: int | None = None
    payload: bytes | None = None
    head: bytes | None = None
    body: bytes | None = None


def _as_text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class HoldEditScreen(ModalScreen[Edited | None]):
    DEFAULT_CSS = _MODAL_CSS.format(name="HoldEditScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Send edited", priority=True),
        Binding("escape", "dismiss", "Cancel"),
    ]

    def __init__(self, hold: TrafficHeld) -> None:
        super().__init__()
        self.hold = hold
        text = _as_text(hold.body)
        binary = (hold.what == "message" and hold.opcode == BINARY) or text is None
        self.binary = binary
        self.typed = hold.body.hex(" ") if binary else (text or "")

    def compose(self) -> ComposeResult:
        hold = self.hold
        kind = "hex" if self.binary else "text"
        title = f"Edit hold #{hold.hold}: the {hold.what}"
        with Vertical():
            yield Static(Text(title, style="bold"))
            if hold.what != "message":
                head = hold.head.decode("latin-1").replace("\r\n", "\n").rstrip("\n")
                yield Static(Text("head (its lines end with CRLF when sent)", style="dim"))
                yield TextArea(printable(head, multiline=True), id="head")
            label = "payload" if hold.what == "message" else "body"
            yield Static(Text(f"{label} as {kind}", style="dim"))
            yield TextArea(self.typed, id="body", soft_wrap=True)
            yield Static(id="edit-error")
            with Horizontal():
                yield Button("Send edited (ctrl+s)", variant="warning", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#body", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        typed = self.query_one("#body", TextArea).text
        try:
            opcode, data = encode("hex" if self.binary else "text", typed)
        except PayloadError as exc:
            self.query_one("#edit-error", Static).update(Text("✗ " + str(exc)))
            return
        if self.hold.what == "message":
            self.dismiss(Edited(opcode=opcode, payload=data))
            return
        lines = self.query_one("#head", TextArea).text.rstrip("\n").split("\n")
        head = ("\r\n".join(line.rstrip("\r") for line in lines) + "\r\n\r\n").encode("latin-1")
        self.dismiss(Edited(head=head, body=data))


class NotEditableScreen(ModalScreen[Literal["forward", "inject"] | None]):
    """Why a hold cannot be edited, and what can be done instead."""

    DEFAULT_CSS = _MODAL_CSS.format(name="NotEditableScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "choose('forward')", "Forward"),
        Binding("i", "choose('inject')", "Inject instead"),
        Binding("escape", "dismiss", "Cancel"),
    ]

    def __init__(self, hold: TrafficHeld) -> None:
        super().__init__()
        self.hold = hold

    def compose(self) -> ComposeResult:
        hold = self.hold
        sentence = f"Hold #{hold.hold} cannot be edited: {hold.editable}"
        if hold.what != "message":
            sentence += f"\nForward the {hold.what} as held, or drop it (d)."
        with Vertical():
            yield Static(Text(printable(sentence, multiline=True)))
            with Horizontal():
                yield Button("Forward (f)", variant="primary", id="forward")
                if hold.what == "message":
                    yield Button("Inject instead (i)", id="inject")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#forward", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        choice = event.button.id
        self.dismiss("forward" if choice == "forward" else "inject" if choice == "inject" else None)

    def action_choose(self, choice: Literal["forward", "inject"]) -> None:
        if choice == "inject" and self.hold.what != "message":
            return
        self.dismiss(choice)
