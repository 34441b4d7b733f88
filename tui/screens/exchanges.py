"""The main screen: the live exchange list with its filter bar, status bar and key footer.

Actions that work on the exchange under the cursor (open, mark, replay, copy as curl, inject:
on the row that was under it when the key was pressed, see `VirtualList.target`) or on a
selection (export: the marked exchanges, else all shown) live here; the app owns the store,
the incoming events and pausing, and answers what this screen posts (inject, intercept).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Header

from inspector.observe.exchange import Exchange
from inspector.observe.store import Store
from tui.screens.confirm import ConfirmScreen
from tui.screens.detail import DetailScreen, Replay, ReplayRequested
from tui.screens.export import ExportScreen
from tui.screens.inject import InjectRequested
from tui.screens.intercept import InterceptRequested
from tui.widgets.exchange_list import ExchangeList
from tui.widgets.filter_bar import FilterBar
from tui.widgets.footer import KeyFooter, StatusBar
from tui.widgets.virtual_list import VirtualList

if TYPE_CHECKING:
    from tui.app import InspectorApp


class _HoldingList(ExchangeList):
    """The exchange list with a ⏸ in the second flag cell for an exchange whose traffic the
    proxy holds now (intercept), in place of the replay mark while it holds."""

    def render_row(self, row: Exchange, index: int, width: int) -> Text:
        line = super().render_row(row, index, width)
        if not row.holds or len(line) < 2:
            return line
        return Text.assemble(line[:1], ("⏸", "bold red"), line[2:], no_wrap=True)


class ExchangesScreen(Screen[None]):
    CSS_PATH = "exchanges.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        # The app's keys again, first: the footer lists keys in this order and cuts what
        # does not fit, and these two must never be cut.
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
        Binding("f,slash", "filter", "Filter"),
        Binding("m", "mark", "Mark"),
        Binding("x", "export", "Export"),
        Binding("r", "replay('replay')", "Replay"),
        Binding("R", "replay('paced')", "Paced replay", show=False),
        # #13's keys: in the help, not the footer, which has no room left at 80 columns.
        Binding("e", "replay('edit')", "Edit+replay", show=False),
        Binding("equals_sign", "replay('compare')", "Compare", show=False),
        Binding("y", "copy_curl", "Copy curl"),
        Binding("i", "inject", "Inject", show=False),
        Binding("I", "intercept", "Intercept", show=False),
        Binding("c", "clear", "Clear"),
        Binding("end,G", "follow", "Follow", show=False),
    ]

    def __init__(self, store: Store, *, listening: str | None = None, saved: bool = False) -> None:
        super().__init__()
        self.store = store
        self.list = _HoldingList(store, listening=listening, saved=saved, id="exchanges")
        self.filter_bar = FilterBar()
        self.status_bar = StatusBar()

    @property
    def inspector(self) -> InspectorApp:
        return cast("InspectorApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield self.filter_bar
        yield self.list
        yield self.status_bar
        yield KeyFooter()

    def on_mount(self) -> None:
        self.list.reset()
        self.list.focus()
        self.inspector.start_feeding()

    @property
    def selection(self) -> tuple[list[Exchange], str]:
        """What export works on: the marked exchanges, else every exchange shown."""
        marked = self.list.marked
        if marked:
            return [x for x in self.store if x.id in marked], "marked"
        return list(self.list.rows), "shown"

    def on_virtual_list_selected(self, event: VirtualList.Selected) -> None:
        event.stop()
        self.action_open()

    def on_filter_bar_changed(self, event: FilterBar.Changed) -> None:
        self.list.set_filter(event.predicate)
        self.inspector.update_status()

    def on_filter_bar_closed(self) -> None:
        self.list.focus()

    def action_filter(self) -> None:
        self.filter_bar.open()

    def action_open(self) -> None:
        exchange = self.list.target()
        if exchange is not None:
            self.app.push_screen(DetailScreen(exchange))
        self.inspector.update_status()

    def action_mark(self) -> None:
        if self.list.toggle_mark() is not None:  # then on to the next row, like mitmproxy
            self.list.action_cursor(1)
            self.list.follow = False  # even onto the last row: a key that acts stops following
        self.inspector.update_status()

    def action_follow(self) -> None:
        self.list.action_last()

    def action_export(self) -> None:
        exchanges, what = self.selection
        if not exchanges:
            self.notify("nothing to export", severity="warning")
            return
        # With `inspector listen --app`, pytest tests go through that app, not the network.
        screen = ExportScreen(exchanges, what, target=self.inspector.replay_app)
        self.app.push_screen(screen)  # it notifies when written

    def action_replay(self, how: Replay) -> None:
        exchange = self.list.target()
        if exchange is not None:
            self.post_message(ReplayRequested(exchange, how))
        self.inspector.update_status()

    def action_copy_curl(self) -> None:
        exchange = self.list.target()
        if exchange is not None:
            self.inspector.copy_curl(exchange)
        self.inspector.update_status()

    def action_inject(self) -> None:
        exchange = self.list.target()
        if exchange is not None:
            self.post_message(InjectRequested(exchange))
        self.inspector.update_status()

    def action_intercept(self) -> None:
        self.post_message(InterceptRequested())

    def action_clear(self) -> None:
        """Forget every exchange, once the user says yes: there is no undo."""
        app = self.inspector
        count = len(app.store)
        question = f"Clear all {count:,} exchange{'s' * (count != 1)}?"
        if app.held:
            question += f" The {len(app.held):,} events held while paused go too."
        question += " What arrives afterwards is listed as usual."

        def answered(yes: bool | None) -> None:
            if yes:
                app.clear()

        self.app.push_screen(ConfirmScreen(question, "Clear"), answered)
