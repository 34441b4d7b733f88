"""The edit-and-replay screen: a captured HTTP request in fields to change before it is sent.

Method, URL (where it goes: the replay target), header fields one per line and the body in
a text area; `ctrl+s` checks them (a wrong field is named, with how to write it, and gets
the focus) and posts `EditedReplayRequested`; the app sends it (`Replayer.send_edited`) and
the answer is a new ↻ row. With $VISUAL or $EDITOR set, `ctrl+e` suspends the viewer and
opens the request as an HTTP message in that editor, in a private temporary file (0600,
removed after); saving and quitting sends what was saved, emptying the file sends nothing.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label, Static, TextArea

from inspector.observe.edit import EditedRequest, check, from_message, header_text
from inspector.observe.exchange import Exchange
from tui.widgets.cells import printable
from tui.widgets.footer import KeyFooter


class EditedReplayRequested(Message):
    """Send `request`, an edited copy of `exchange`'s, and record it as a replay of it."""

    def __init__(self, exchange: Exchange, request: EditedRequest) -> None:
        super().__init__()
        self.exchange = exchange
        self.request = request


def editor_command() -> list[str] | None:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    return shlex.split(editor) if editor else None


class EditScreen(Screen[None]):
    DEFAULT_CSS = """
    EditScreen #edit-title { height: 1; background: $panel; padding: 0 1; }
    EditScreen #edit-form { height: 1fr; padding: 0 1; }
    EditScreen Label { margin-top: 1; }
    EditScreen #edit-headers { height: 1fr; min-height: 4; }
    EditScreen #edit-body { height: 1fr; min-height: 4; }
    EditScreen #edit-error { color: $error; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("ctrl+e", "external_editor", "$EDITOR", priority=True),
        Binding("escape", "app.pop_screen", "Cancel"),
    ]

    def __init__(self, exchange: Exchange, request: EditedRequest) -> None:
        """`request`: what to start from (`inspector.observe.edit.editable(exchange)`)."""
        super().__init__()
        self.exchange = exchange
        self.start = request
        try:
            self.start_text = request.body.decode()
            self.binary = False
        except UnicodeDecodeError:
            self.start_text = request.body.decode("utf-8", "replace")
            self.binary = True

    def compose(self) -> ComposeResult:
        start = self.start
        title = f" Edit and replay ↻  {printable(start.method)} {printable(start.url)}"
        yield Static(title, id="edit-title", markup=False)
        with Vertical(id="edit-form"):
            yield Label("Method")
            yield Input(start.method, id="edit-method")
            yield Label("URL")
            yield Input(start.url, id="edit-url")
            yield Label("Header fields, one per line (Name: value)")
            yield TextArea(header_text(start.headers), id="edit-headers")
            note = " (not UTF-8: sent as captured unless changed)" if self.binary else ""
            yield Label(f"Body{note}")
            yield TextArea(self.start_text, id="edit-body")
            yield Static("", id="edit-error", markup=False)
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "external_editor":
            return editor_command() is not None
        return True

    def _fields(self) -> tuple[str, str, str, bytes]:
        method = self.query_one("#edit-method", Input).value
        url = self.query_one("#edit-url", Input).value
        headers = self.query_one("#edit-headers", TextArea).text
        text = self.query_one("#edit-body", TextArea).text
        body = self.start.body if text == self.start_text else text.encode()
        return method, url, headers, body

    def action_send(self) -> None:
        try:
            edited = check(*self._fields())
        except ValueError as exc:
            self._refuse(str(exc))
            return
        self._send(edited)

    def _send(self, edited: EditedRequest) -> None:
        self.app.post_message(EditedReplayRequested(self.exchange, edited))
        self.dismiss()

    def _refuse(self, message: str) -> None:
        self.query_one("#edit-error", Static).update(printable(message))
        field = message.split(":", 1)[0].split(",")[0]
        target = {"method": "#edit-method", "URL": "#edit-url", "headers": "#edit-headers"}
        self.query_one(target.get(field, "#edit-body")).focus()

    def action_external_editor(self) -> None:
        command = editor_command()
        if command is None:
            return
        method, url, headers, body = self._fields()
        head = f"{method} {url} HTTP/1.1\n{headers.rstrip()}\n".replace("\n\n", "\n")
        text = (head + "\n").encode("latin-1", "replace") + body + b"\n"
        try:
            edited_bytes = self._run_editor(command, text)
        except OSError as exc:
            self._refuse(f"the editor {command[0]!r} could not run: {exc.strerror or exc}")
            return
        if not edited_bytes.strip():
            self.notify("nothing sent: the file was emptied", title="Edit and replay")
            return
        try:
            edited = from_message(edited_bytes)
        except ValueError as exc:
            self._refuse(f"from the editor: {exc}")
            return
        self._fill(edited)
        self._send(edited)

    def _run_editor(self, command: list[str], text: bytes) -> bytes:
        """The editor on a private copy of `text`; what it saved."""
        fd, name = tempfile.mkstemp(prefix="inspector-request-", suffix=".http")  # 0600
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(text)
            try:
                with self.app.suspend():  # raises on entering, before the editor runs
                    subprocess.run([*command, str(path)], check=False)
            except SuspendNotSupported:  # headless (tests): no terminal to give back
                subprocess.run([*command, str(path)], check=False)
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)

    def _fill(self, edited: EditedRequest) -> None:
        self.query_one("#edit-method", Input).value = edited.method
        self.query_one("#edit-url", Input).value = edited.url
        self.query_one("#edit-headers", TextArea).text = header_text(edited.headers)
        self.query_one("#edit-body", TextArea).text = edited.body.decode("utf-8", "replace")
