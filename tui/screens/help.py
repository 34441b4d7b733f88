"""The help screen: every key, and the filter language at a glance."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("↑ ↓ j k, PgUp PgDn", "move; moving up, or acting on a row, stops following"),
    ("end G / home g", "last row and follow / first row"),
    ("enter", "open the exchange (tabs 1-6, escape back)"),
    ("f /", "filter (enter applies, escape clears)"),
    ("space", "pause / resume (events are held while paused)"),
    ("m", "mark or unmark (export uses the marked ones)"),
    ("x", "export marked, else shown: HAR or curl"),
    ("r  R", "replay as captured, WebSocket paced as captured (a new ↻ row, selected)"),
    ("e", "edit the request, then send it (a new ↻ row; ctrl+e: $EDITOR)"),
    ("=", "compare a ↻ replay with its original, side by side"),
    ("y", "copy the request as curl"),
    ("i", "inject a message into a live WebSocket (inspect-proxy)"),
    ("I", "intercept: hold matching traffic; f forward, d drop, e edit, F/D all"),
    ("c", "clear the list (asks first)"),
    ("L", "the server's output, followed (inspector run)"),
    ("ctrl+p", "command palette"),
    ("?  q, ctrl+c", "this help  /  quit"),
)
CLOSING = "escape, q or ? closes this help"
FILTERS = (
    ("~m GET", "method"),
    ("~c 404  ~c 5xx", "status code or class"),
    ("~u regex  word", "URL"),
    ("~h ~hq ~hs regex", "header (any, request, response)"),
    ("~b ~bq ~bs regex", "body (any, request, response)"),
    ("~t ~tq ~ts regex", "content type"),
    ("~d 200ms", "took longer than (ms, s, us)"),
    ("~ws  ~e", "WebSocket / failed or 5xx"),
    ("~src proxy", "captured by proxy, asgi or wsgi"),
    ("~check  ~check asgi", "spec-check findings: any, or a rule or family"),
    ("~paired", "proxy and app records of one request (⇄)"),
    ("! & | ( )", "not, and, or, grouping"),
)
MESSAGE_FILTERS = (
    ("~from client|server", "direction (client: to the app)"),
    ("~text  ~binary", "message type"),
    ("~size >1k  ~size <=100", "payload size (k, m: 1024, 1024²)"),
    ("~b ~bq ~bs regex  word", "payload (any, the client's, the app's)"),
)
MESSAGE_NOTE = (
    "The Messages tab and the intercept screen's filters; requests and responses use the list's."
)


def _table(title: str, rows: tuple[tuple[str, str], ...]) -> Table:
    table = Table(title=title, title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, what in rows:
        table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 80; height: auto; max-height: 90%; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_subtitle = CLOSING  # on the frame: in sight however far it scrolls
            yield Static(_table("Keys", KEYS))
            yield Static(Text())
            yield Static(_table("Filters", FILTERS))
            yield Static(Text())
            yield Static(_table("Message filters", MESSAGE_FILTERS))
            yield Static(Text(MESSAGE_NOTE, style="dim"))
