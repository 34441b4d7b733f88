"""The inject screen: one message to send into a live WebSocket connection seen by inspect-proxy.

The user picks the direction (to the app, to the client), the format (text, JSON validated
while typing with the error's line and column, bytes typed as hex with an odd count or a
stray character explained) and types the payload; ctrl+s (or Send) posts `InjectSubmitted`,
which the app sends through the relay's control socket. The app closes the screen once the
relay took the message and keeps it open on a refusal, so the text is not lost. `refusal()`
says why an exchange takes no injection (a saved session, no proxy behind this viewer, a
middleware capture, HTTP, a closed connection); the list and detail screens ask for this
screen by posting `InjectRequested`.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, RadioButton, RadioSet, Static, TextArea

from inspector.events import Sender
from inspector.observe.exchange import Exchange
from tui.console import size
from tui.widgets.cells import printable

Format = Literal["text", "json", "hex"]
Direction = Literal["server", "client"]
TEXT, BINARY = 1, 2  # RFC 6455 section 5.2 opcodes
_HEX_DIGIT = re.compile(r"[0-9a-fA-F]")


class PayloadError(ValueError):
    """What is wrong with the typed payload, in a sentence for the screen."""


def encode(fmt: Format, typed: str) -> tuple[int, bytes]:
    """The opcode and payload `typed` stands for in `fmt`; `PayloadError` says what is wrong."""
    if fmt == "text":
        return TEXT, typed.encode("utf-8")
    if fmt == "json":
        try:
            json.loads(typed)
        except json.JSONDecodeError as exc:
            raise PayloadError(
                f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        return TEXT, typed.encode("utf-8")
    digits: list[str] = []
    for position, char in enumerate(typed):
        if char.isspace():
            continue  # "01 ff 0a" and a pasted hex dump's line breaks read as they look
        if _HEX_DIGIT.fullmatch(char) is None:
            raise PayloadError(
                f"not a hex digit at position {position}: {char!r} "
                "(bytes are typed as pairs of 0-9 a-f, spaces allowed)"
            )
        digits.append(char)
    if len(digits) % 2:
        raise PayloadError(
            f"odd number of hex digits ({len(digits)}): each byte takes two, "
            "so one digit is missing or extra"
        )
    return BINARY, bytes.fromhex("".join(digits))


def refusal(exchange: Exchange, *, live: bool, saved: bool) -> str | None:
    """Why `exchange` takes no injected message, or None when it does. `live`: this viewer
    has the relay's control socket (it is inspect-proxy's or inspector demo's viewer)."""
    if saved:
        return "a saved session: its connections are over, nothing can be injected into them"
    if not exchange.is_websocket:
        return "only a WebSocket connection takes injected messages; this exchange is HTTP"
    request = exchange.request
    if request is not None and request.source != "proxy":
        return (
            f"this WebSocket was captured by the app's {request.source.upper()} middleware: "
            "injecting needs the connection to pass through inspect-proxy"
        )
    if not live:
        return (
            "this viewer has no proxy to send through: injection works in the viewer of "
            "inspect-proxy or inspector demo (inspector listen only receives events)"
        )
    if exchange.state != "open":
        return f"the connection is {exchange.state}: only an open connection takes messages"
    return None


class InjectRequested(Message):
    """The user asked to inject into `exchange` (`i`); the app opens the screen or says why not."""

    def __init__(self, exchange: Exchange, *, to: Direction = "server", typed: str = "") -> None:
        super().__init__()
        self.exchange = exchange
        self.to: Direction = to
        self.typed = typed


class InjectSubmitted(Message):
    """Send `payload` into `exchange_id`'s connection towards `to` (the app is the server)."""

    def __init__(self, exchange_id: str, to: Direction, opcode: int, payload: bytes) -> None:
        super().__init__()
        self.exchange_id = exchange_id
        self.to: Direction = to
        self.opcode = opcode
        self.payload = payload


class InjectScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    InjectScreen { align: center middle; }
    InjectScreen > Vertical {
        width: 90; height: auto; max-height: 95%; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    InjectScreen #inject-title { height: auto; margin-bottom: 1; }
    InjectScreen Horizontal { height: auto; }
    InjectScreen RadioSet { width: 1fr; height: auto; }
    InjectScreen TextArea { height: 10; margin-top: 1; }
    InjectScreen #check { height: auto; padding: 0 1; }
    InjectScreen #check.-error { color: $error; }
    InjectScreen #buttons { align-horizontal: right; margin-top: 1; }
    InjectScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("escape", "dismiss", "Cancel"),
    ]

    def __init__(self, exchange: Exchange, *, to: Direction = "server", typed: str = "") -> None:
        """`to`: the direction chosen at first; `typed`: the payload to start from (a held
        message that cannot be edited, to inject a changed copy instead)."""
        super().__init__()
        self.exchange = exchange
        self.to: Direction = to
        self.format: Format = "text"
        self.typed = typed

    def compose(self) -> ComposeResult:
        with Vertical():
            title = Text.assemble(("Inject a message", "bold"), "  into ")
            title.append(printable(self.exchange.url or self.exchange.id), "cyan")
            yield Static(title, id="inject-title")
            with Horizontal():
                with RadioSet(id="direction"):
                    yield RadioButton("to the app (server)", self.to == "server", id="server")
                    yield RadioButton("to the client", self.to == "client", id="client")
                with RadioSet(id="format"):
                    yield RadioButton("text", True, id="text")
                    yield RadioButton("JSON", id="json")
                    yield RadioButton("bytes (hex)", id="hex")
            yield TextArea(self.typed, id="payload", soft_wrap=True, show_line_numbers=False)
            yield Static(id="check")
            with Horizontal(id="buttons"):
                yield Button("Send (ctrl+s)", variant="primary", id="send")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()
        self._check()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        chosen = event.pressed.id
        if event.radio_set.id == "direction" and chosen in ("server", "client"):
            self.to = "server" if chosen == "server" else "client"
        elif event.radio_set.id == "format" and chosen in ("text", "json", "hex"):
            self.format = "text" if chosen == "text" else "json" if chosen == "json" else "hex"
        self._check()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._check()

    def _check(self) -> tuple[int, bytes] | None:
        """Validate what is typed, say so under the editor, and return what would be sent."""
        check = self.query_one("#check", Static)
        try:
            opcode, payload = encode(self.format, self.query_one(TextArea).text)
        except PayloadError as exc:
            check.update(Text("✗ " + str(exc)))
            check.add_class("-error")
            return None
        check.remove_class("-error")
        kind = "binary" if opcode == BINARY else "JSON text" if self.format == "json" else "text"
        who = "the app" if self.to == "server" else "the client"
        check.update(Text(f"✓ a {kind} message of {size(len(payload))} to {who}", style="dim"))
        return opcode, payload

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            self.action_send()
        else:
            self.dismiss()

    def action_send(self) -> None:
        checked = self._check()
        if checked is None:
            self.notify("not sent: fix the payload first", severity="warning")
            return
        opcode, payload = checked
        self.post_message(InjectSubmitted(self.exchange.id, self.to, opcode, payload))


def towards(sender: Sender) -> Direction:
    """Where a message from `sender` goes: a client's to the app (the server), and back."""
    return "server" if sender == "client" else "client"
