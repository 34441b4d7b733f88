"""The detail screen: one exchange in tabs (Request, Response, Timing, Events, Messages for
a WebSocket, Checks, and Diff: the proxy's and the app's view of it), updated live while it
streams.

The app calls `show(exchange)` after each coalesced batch that touched the exchange; each pane
decides for itself whether anything it shows changed. Once the store no longer holds this
exchange (evicted, or the list cleared) the app calls `forget()`: the title says so and the
panes keep what they last showed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane

from inspector.observe.exchange import Exchange
from tui.screens.inject import InjectRequested
from tui.screens.intercept import InterceptRequested
from tui.widgets.cells import duration, is_replay, printable, status_cell
from tui.widgets.checks import ChecksPane
from tui.widgets.detail import RequestPane, ResponsePane
from tui.widgets.diff import DiffPane
from tui.widgets.footer import KeyFooter
from tui.widgets.messages import MessagesPane
from tui.widgets.timeline import EventList
from tui.widgets.timing import TimingPane

if TYPE_CHECKING:
    from tui.app import InspectorApp


Replay = Literal["replay", "paced", "edit", "compare"]


class ReplayRequested(Message):
    """Replay `exchange` (`r`), paced as captured (`R`), edit it first (`e`), or compare the
    ↻ replay with its original (`=`); posted by the list and the detail screens."""

    def __init__(self, exchange: Exchange, how: Replay) -> None:
        super().__init__()
        self.exchange = exchange
        self.how: Replay = how


class _Pane(Protocol):
    def show(self, exchange: Exchange) -> None: ...


class DetailScreen(Screen[None]):
    CSS_PATH = "detail.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("question_mark", "app.help", "Help"),  # first, as on the list: never cut
        Binding("1", "tab('request')", "Request"),
        Binding("2", "tab('response')", "Response"),
        Binding("3", "tab('timing')", "Timing"),
        Binding("4", "tab('events')", "Events"),
        Binding("5", "tab('messages')", "Messages"),  # a WebSocket's; for HTTP, the next one
        Binding("5", "no_messages", show=False),
        Binding("6", "tab('checks')", "Checks"),
        Binding("7", "tab('diff')", "Diff"),
        Binding("r", "replay('replay')", "Replay"),
        Binding("R", "replay('paced')", "Paced replay", show=False),
        # #13's keys: in the help, not the footer, which has no room left at 80 columns.
        Binding("e", "replay('edit')", "Edit+replay", show=False),
        Binding("equals_sign", "replay('compare')", "Compare", show=False),
        Binding("y", "copy_curl", "Copy curl"),
        Binding("i", "inject", "Inject", show=False),
        Binding("I", "intercept", "Intercept", show=False),
    ]

    def __init__(self, exchange: Exchange, *, tab: str | None = None) -> None:
        """`tab`: the one to open on; by default a WebSocket's Messages, else the Response."""
        super().__init__()
        self.exchange = exchange
        self.forgotten = False
        if tab is None or (tab == "messages" and not exchange.is_websocket):
            tab = "messages" if exchange.is_websocket else "response"
        # Only where two vantage points met: a pair, or an exchange that says why it has none.
        self.has_diff = exchange.pair is not None or bool(exchange.unpaired)
        if tab == "diff" and not self.has_diff:
            tab = "response"
        self.initial = tab

    @property
    def inspector(self) -> InspectorApp:
        return cast("InspectorApp", self.app)

    def compose(self) -> ComposeResult:
        exchange = self.exchange
        origin = self.inspector.store.origin(exchange.id)
        request, response = RequestPane(exchange, origin=origin), ResponsePane(exchange)
        timing, events = TimingPane(exchange), EventList(exchange)
        checks = ChecksPane(exchange)
        self.panes: list[_Pane] = [request, response, timing, events, checks]
        yield Static(self._title(), id="detail-title")
        with TabbedContent(initial=self.initial):
            with TabPane("Request", id="request"):
                yield request
            with TabPane("Response", id="response"):
                yield response
            with TabPane("Timing", id="timing"):
                yield timing
            with TabPane("Events", id="events"):
                yield events
            if exchange.is_websocket:
                messages = MessagesPane(exchange)
                self.panes.append(messages)
                with TabPane("Messages", id="messages"):
                    yield messages
            with TabPane("Checks", id="checks"):
                yield checks
            if self.has_diff:
                diff = DiffPane(exchange)
                self.panes.append(diff)
                with TabPane("Diff", id="diff"):
                    yield diff
        yield KeyFooter()

    def _title(self) -> Text:
        exchange = self.exchange
        status, style = status_cell(exchange)
        method = printable(exchange.request.method) if exchange.request is not None else "?"
        title = Text.assemble((f" {status} ", f"reverse {style}"), " ", (method, "bold"), " ")
        title.append(printable(exchange.url or exchange.id))
        extra = [exchange.state, duration(exchange.duration_ns)]
        if is_replay(exchange):
            extra.append("replay")
        if exchange.pair is not None:
            extra.append(f"⇄ {exchange.pair.label}")
        title.append("   " + " · ".join(e for e in extra if e), style="dim")
        if exchange.holds:
            title.append(f"   {len(exchange.holds)} held by intercept (I)", style="bold yellow")
        if self.forgotten:
            title.append("   evicted: no longer updated", style="bold yellow")
        return title

    def show(self, exchange: Exchange) -> None:
        """Refresh every pane from `exchange` (the same object, after more events)."""
        self.exchange = exchange
        self.query_one("#detail-title", Static).update(self._title())
        for pane in self.panes:
            pane.show(exchange)

    def forget(self) -> None:
        """The store let this exchange go: keep showing it, say it no longer changes."""
        if not self.forgotten:
            self.forgotten = True
            self.query_one("#detail-title", Static).update(self._title())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "tab" and parameters == ("messages",):
            return self.exchange.is_websocket
        if action == "no_messages":
            return not self.exchange.is_websocket
        if action == "tab" and parameters == ("diff",):
            return self.has_diff
        return True

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Lists take the focus with their tab, so the arrow keys move in what is shown."""
        lists = event.pane.query("EventList, MessageList")
        if lists:
            lists.first().focus()

    def action_tab(self, tab: str) -> None:
        if tab == "messages" and not self.exchange.is_websocket:
            self.action_no_messages()
            return
        self.query_one(TabbedContent).active = tab

    def action_no_messages(self) -> None:
        self.notify("no Messages tab: only a WebSocket exchange has messages; this is HTTP")

    def action_replay(self, how: Replay) -> None:
        self.post_message(ReplayRequested(self.exchange, how))

    def action_copy_curl(self) -> None:
        self.inspector.copy_curl(self.exchange)

    def action_inject(self) -> None:
        self.post_message(InjectRequested(self.exchange))

    def action_intercept(self) -> None:
        self.post_message(InterceptRequested())
