"""The export dialog: HAR, curl or pytest tests (through the app given to `listen --app`,
else against a base URL), which capture point's records, a path, masking secrets (by
default); writes with the library exporters (`inspector.observe.export`,
`inspector.observe.pytest_export`), as `inspector export` does.

A request that crossed the proxy and then the app was recorded twice, once by each capture
point (`inspector demo`): when the exchanges hold both, the dialog offers the proxy's records
(the default), the app's, or both. The file goes by default into a directory of its own,
`$XDG_DATA_HOME/inspector/exports` (`~/.local/share` without it), made 0700, never into the
working directory (a git checkout, say). It is opened with `open_export`: 0600, never through
a symbolic link. A path that cannot be opened keeps the dialog open with the reason shown,
and so does an existing file until enter is pressed again to overwrite it. The file is opened
here; the export itself (seconds for 100,000 exchanges) runs in a thread worker of the app,
which says when it is done or why it failed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import BinaryIO, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from inspector.observe.apps import LoadedApp
from inspector.observe.exchange import Exchange
from inspector.observe.export import ExportError, curl_all, har_json, open_export
from inspector.observe.pytest_export import pytest_module
from tui.screens.clipboard import data_dir, private_dir
from tui.widgets.cells import printable, size

_SUFFIXES = {"har": ".har", "curl": ".sh", "pytest": ".py"}


def exports_dir() -> Path:
    return data_dir() / "exports"


def default_path(kind: str, now: float | None = None) -> Path:
    """A new file in the exports directory, named for the moment: exports never replace one
    another unasked."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    if kind == "pytest":  # a name pytest collects
        return exports_dir() / f"test_captured_{stamp.replace('-', '_')}.py"
    return exports_dir() / f"inspector-{stamp}{_SUFFIXES[kind]}"


def by_source(exchanges: list[Exchange]) -> dict[str, list[Exchange]]:
    """The proxy's records, the app's (an ASGI or WSGI middleware's) and both, in order."""
    proxy = [x for x in exchanges if x.request is not None and x.request.source == "proxy"]
    app = [x for x in exchanges if x.request is not None and x.request.source != "proxy"]
    return {"proxy": proxy, "app": app, "both": exchanges}


def write_export(
    exchanges: list[Exchange],
    kind: str,
    file: BinaryIO,
    *,
    redact: bool,
    target: LoadedApp | None = None,
) -> int:
    """Write the export; returns the bytes written. Raises OSError as the filesystem does.
    `target`: the app pytest tests go through in process (else they use a base URL)."""
    if kind == "pytest" and target is not None:
        text = pytest_module(exchanges, app=target.target, kind=target.kind, redact=redact)
    elif kind == "pytest":
        text = pytest_module(exchanges, redact=redact)
    elif kind == "har":
        text = har_json(exchanges, redact=redact)
    else:
        text = curl_all(exchanges, redact=redact)
    data = (text + "\n").encode()
    file.write(data)
    return len(data)


def export_in_thread(
    app: App[object],
    exchanges: list[Exchange],
    kind: str,
    file: BinaryIO,
    *,
    redact: bool,
    target: LoadedApp | None = None,
) -> None:
    """Write in a thread worker and notify when done. The exchanges are read while the UI
    thread may still append to them; a body or list read mid-append is merely shorter."""

    def work() -> None:
        name = file.name
        try:
            with file:
                written = write_export(exchanges, kind, file, redact=redact, target=target)
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
        width: 100; max-width: 100%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    ExportScreen RadioSet { layout: horizontal; width: auto; border: none; }
    ExportScreen .note { width: 1fr; height: auto; margin-top: 1; color: $text-muted; }
    ExportScreen Input { margin: 1 0 0 0; }
    ExportScreen .error { color: $error; height: auto; margin-top: 1; }
    ExportScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ExportScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, exchanges: list[Exchange], what: str, *, target: LoadedApp | None = None
    ) -> None:
        """`target`: the app (`inspector listen --app`) pytest tests go through."""
        super().__init__()
        self.target = target
        self.sources = by_source(exchanges)
        self.what = what
        self._default = default_path("har")
        self._overwrite: Path | None = None
        """The existing file the reader was warned about: enter again overwrites it."""

    @property
    def both_recorded(self) -> bool:
        """Both capture points recorded some of these: a choice to offer."""
        return bool(self.sources["proxy"]) and bool(self.sources["app"])

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title(), id="title")
            with RadioSet(id="format"):
                yield RadioButton("HAR 1.2", value=True, id="har")
                yield RadioButton("curl commands", id="curl")
                yield RadioButton("pytest tests", id="pytest")
            if self.both_recorded:
                yield Static(
                    "Both the proxy and the app recorded these (a request through both is "
                    "recorded twice):",
                    classes="note",
                )
                with RadioSet(id="source"):
                    yield RadioButton(self._choice("proxy"), value=True, id="proxy")
                    yield RadioButton(self._choice("app"), id="app")
                    yield RadioButton(self._choice("both"), id="both")
            yield Checkbox("Mask secrets (Authorization, Cookie, ...)", value=True, id="redact")
            yield Input(str(self._default), placeholder="path to write", id="path")
            yield Static(classes="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Export", variant="primary", id="export")

    def _choice(self, source: str) -> str:
        count = len(self.sources[source])
        return {"proxy": "the proxy's", "app": "the app's", "both": "both"}[source] + f" {count:,}"

    def _title(self) -> str:
        total = len(self.sources["both"])
        noun = f"{self.what} exchange{'s' * (total != 1)}"
        count = len(self.exchanges)
        if count == total:
            return f"[b]Export {total:,} {noun}[/]"
        return f"[b]Export {count:,} of the {total:,} {noun}: the {self.source}'s records[/]"

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def _pressed(self, radio_set: str, default: str) -> str:
        found = self.query(f"#{radio_set}")
        pressed = found.first(RadioSet).pressed_button if found else None
        return pressed.id if pressed is not None and pressed.id else default

    @property
    def kind(self) -> str:
        return self._pressed("format", "har")

    @property
    def source(self) -> str:
        """Whose records: the proxy's by default when both recorded; else all there are."""
        return self._pressed("source", "proxy") if self.both_recorded else "both"

    @property
    def exchanges(self) -> list[Exchange]:
        return self.sources[self.source]

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        if event.radio_set.id == "source":
            self.query_one("#title", Label).update(self._title())
            return
        path = self.query_one("#path", Input)
        if path.value == str(self._default):
            if self.kind == "pytest" or self._default.name.startswith("test_captured_"):
                self._default = default_path(self.kind)  # test_captured_*.py: pytest collects it
            else:
                self._default = self._default.with_suffix(_SUFFIXES[self.kind])
            path.value = str(self._default)

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
        if not self.exchanges:
            self._error(f"✗ none of these are {self.source}'s records")
            return
        redact = self.query_one("#redact", Checkbox).value
        path: Path | str = text
        try:
            # Not resolve(): a symbolic link is refused by `open_export`, never followed.
            path = Path(text).expanduser().absolute()
            overwrite = path == self._overwrite
            if os.path.lexists(path) and not overwrite:
                self._overwrite = path
                self._error(f"{path} exists: press enter again to overwrite it", "bold yellow")
                return
            if path.parent == exports_dir():
                private_dir(data_dir())
                private_dir(path.parent)
            file = open_export(path, replace=overwrite)
        except (OSError, ValueError, UnicodeError, RuntimeError) as exc:
            # ExportError: a link or another user's file; RuntimeError: `~user` with no such
            # user; ValueError: a NUL in the path.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            message = str(exc) if isinstance(exc, ExportError) else f"cannot write {path}: {reason}"
            self._error(f"✗ {message}")
            self.notify(printable(message), title="Export failed", severity="error", markup=False)
            return
        export_in_thread(
            self.app, self.exchanges, self.kind, file, redact=redact, target=self.target
        )
        self.dismiss(str(path))

    def _error(self, message: str, style: str = "") -> None:
        self.query_one(".error", Static).update(Text(printable(message), style))
