"""The export dialog: HAR or curl, a path, optionally masking secrets; writes with the library
exporters (`inspector.observe.export`).

A path that cannot be opened keeps the dialog open with the reason shown, and so does an
existing file until enter is pressed again to overwrite it. The file is opened here; the
export itself (seconds for 100,000 exchanges) runs in a thread worker of the app, which
says when it is done or why it failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from inspector.observe.exchange import Exchange
from inspector.observe.export import curl_all, har_json
from tui.widgets.cells import printable, size

_DEFAULTS = {"har": "inspector.har", "curl": "inspector.sh"}


def write_export(exchanges: list[Exchange], kind: str, file: BinaryIO, *, redact: bool) -> int:
    """Write the export; returns the bytes written. Raises OSError as the filesystem does."""
    text = (
        har_json(exchanges, redact=redact) if kind == "har" else curl_all(exchanges, redact=redact)
    )
    data = (text + "\n").encode()
    file.write(data)
    return len(data)


def export_in_thread(
    app: App[object], exchanges: list[Exchange], kind: str, file: BinaryIO, *, redact: bool
) -> None:
    """Write in a thread worker and notify when done. The exchanges are read while the UI
    thread may still append to them; a body or list read mid-append is merely shorter."""

    def work() -> None:
        name = file.name
        try:
            with file:
                written = write_export(exchanges, kind, file, redact=redact)
        except Exception as exc:  # a full disk, an odd body: say so, never take the viewer down
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            message = printable(f"cannot write {name}: {reason}")
            app.notify(message, title="Export failed", severity="error", markup=False)
            return
        count = f"{len(exchanges):,} exchange{'s' * (len(exchanges) != 1)}"
        message = printable(f"{count} to {name} ({size(written)})")
        app.notify(message, title="Exported", markup=False)

    app.run_worker(work, thread=True, group="export", exit_on_error=False)


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
        self._overwrite: Path | None = None
        """The existing file the reader was warned about: enter again overwrites it."""

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
        if not text:
            self._error("✗ give a path to write to")
            return
        redact = self.query_one("#redact", Checkbox).value
        path: Path | str = text
        try:
            path = Path(text).expanduser().resolve()
            overwrite = path == self._overwrite
            if path.exists() and not overwrite:
                self._overwrite = path
                self._error(f"{path} exists: press enter again to overwrite it", "bold yellow")
                return
            file = path.open("wb" if overwrite else "xb")
        except (OSError, ValueError, UnicodeError, RuntimeError) as exc:
            # RuntimeError: `~user` with no such user; ValueError: a NUL in the path.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._error(f"✗ cannot write {path}: {reason}")
            self.notify(
                printable(f"cannot write {path}: {reason}"),
                title="Export failed",
                severity="error",
                markup=False,
            )
            return
        export_in_thread(self.app, self.exchanges, self.kind, file, redact=redact)
        self.dismiss(str(path))

    def _error(self, message: str, style: str = "") -> None:
        self.query_one(".error", Static).update(Text(printable(message), style))
