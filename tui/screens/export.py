"""The export dialog: HAR or curl, a path, optionally masking secrets; writes with the library
exporters (`inspector.export`). A path that cannot be written keeps the dialog open with the
reason shown, and a notification says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from inspector.exchange import Exchange
from inspector.export import curl_all, har_json

_DEFAULTS = {"har": "inspector.har", "curl": "inspector.sh"}


def write_export(exchanges: list[Exchange], kind: str, path: Path, *, redact: bool) -> int:
    """Write the export; returns the bytes written. Raises OSError as the filesystem does."""
    text = (
        har_json(exchanges, redact=redact) if kind == "har" else curl_all(exchanges, redact=redact)
    )
    data = (text + "\n").encode()
    path.write_bytes(data)
    return len(data)


class ExportScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical {
        width: 72; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    ExportScreen RadioSet { layout: horizontal; width: auto; border: none; }
    ExportScreen Input { margin: 1 0 0 0; }
    ExportScreen .error { color: $error; height: auto; margin-top: 1; }
    ExportScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ExportScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, exchanges: list[Exchange], what: str) -> None:
        super().__init__()
        self.exchanges = exchanges
        self.what = what

    def compose(self) -> ComposeResult:
        count = len(self.exchanges)
        with Vertical():
            yield Label(f"[b]Export {count:,} {self.what} exchange{'s' * (count != 1)}[/]")
            with RadioSet():
                yield RadioButton("HAR 1.2", value=True, id="har")
                yield RadioButton("curl commands", id="curl")
            yield Checkbox("Mask secrets (Authorization, Cookie, ...)", id="redact")
            yield Input(_DEFAULTS["har"], placeholder="path to write", id="path")
            yield Static(classes="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Export", variant="primary", id="export")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @property
    def kind(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return pressed.id if pressed is not None and pressed.id else "har"

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        path = self.query_one("#path", Input)
        if path.value in _DEFAULTS.values():
            path.value = _DEFAULTS[self.kind]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.export()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "export":
            self.export()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def export(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        error = self.query_one(".error", Static)
        if not text:
            error.update("✗ give a path to write to")
            return
        path = Path(text).expanduser()
        redact = self.query_one("#redact", Checkbox).value
        try:
            written = write_export(self.exchanges, self.kind, path, redact=redact)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            error.update(f"✗ cannot write {path}: {reason}")
            self.notify(f"cannot write {path}: {reason}", title="Export failed", severity="error")
            return
        self.dismiss(f"{path} ({written:,} bytes)")
