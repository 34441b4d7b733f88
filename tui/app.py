"""The live viewer: `InspectorApp` owns the store, takes events from any thread, and folds them
in a few times per second.

`feed(events)` only appends to a pending list under a lock and, if none is waiting, posts one
`EventsPending` message (replaceable, so a burst costs one). The UI thread folds the pending
events into the `Store` at most every `FLUSH_INTERVAL` seconds and in slices of `FLUSH_BATCH`
events, so keys are handled between slices of a large backlog. While paused, events are held
(up to `MAX_HELD`, beyond which they are discarded and counted) and folded in on resume.
Screens and widgets live in `tui.screens` and `tui.widgets`; this module only wires them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer

from inspector.events import Event
from inspector.exchange import Exchange
from inspector.export import curl
from inspector.store import Store
from tui.screens.detail import DetailScreen
from tui.screens.exchanges import ExchangesScreen
from tui.screens.help import HelpScreen
from tui.screens.replay import replay
from tui.widgets.footer import Status

FLUSH_INTERVAL = 0.2
FLUSH_BATCH = 20_000
MAX_HELD = 2_000_000


class EventsPending(Message):
    """Events wait in `InspectorApp._pending`; a newer one replaces one not yet handled."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EventsPending)


class InspectorApp(App[None]):
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        store: Store | None = None,
        *,
        title: str = "inspector",
        subtitle: str = "",
        peers: Callable[[], int] | None = None,
        replay_base: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store if store is not None else Store()
        self.title = title
        self.sub_title = subtitle
        self.peers = peers
        self.replay_base = replay_base
        self.paused = False
        self.held: list[Event] = []
        self.discarded = 0
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self._notified = False
        self._live = False
        self._closed = False
        self._last_flush = 0.0
        self._timer: Timer | None = None

    def get_default_screen(self) -> Screen[None]:
        return ExchangesScreen(self.store)

    @property
    def exchanges(self) -> ExchangesScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, ExchangesScreen)
        return screen

    def on_mount(self) -> None:
        self.set_interval(1.0, self.update_status)

    def start_feeding(self) -> None:
        """Called by the exchanges screen once its list shows the store: from now on events
        fed are folded in (those fed before, as for `inspector open`, first of all)."""
        with self._lock:
            self._live = True
            self._notified = True
        self._fold_pending()

    def on_unmount(self) -> None:
        with self._lock:
            self._closed = True
            self._pending.clear()

    # -- events in -------------------------------------------------------------------------------

    def feed(self, events: Sequence[Event]) -> None:
        """Take events from any thread; never blocks on the UI."""
        if not events:
            return
        with self._lock:
            if self._closed:  # the viewer quit: nobody will fold these
                return
            self._pending.extend(events)
            if self._notified or not self._live:
                return
            self._notified = True
        self.post_message(EventsPending())

    def on_events_pending(self, message: EventsPending) -> None:
        wait = self._last_flush + FLUSH_INTERVAL - time.monotonic()
        if wait <= 0:
            self._fold_pending()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._fold_pending)

    def _fold_pending(self) -> None:
        self._timer = None
        self._last_flush = time.monotonic()
        with self._lock:
            events = self._pending[:FLUSH_BATCH]
            del self._pending[:FLUSH_BATCH]
            more = bool(self._pending)
            self._notified = more
        if more:  # let input through between slices of a backlog
            self._timer = self.set_timer(0.01, self._fold_pending)
        if self.paused:
            room = max(MAX_HELD - len(self.held), 0)
            self.held.extend(events[:room])
            self.discarded += max(len(events) - room, 0)
            self.update_status()
        elif events:
            self._fold(events)

    def _fold(self, events: Iterable[Event]) -> None:
        new, touched = self.store.add(events)
        self.exchanges.list.apply(new, touched)
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen) and screen.exchange.id in touched:
                screen.show(screen.exchange)
        self.update_status()

    def update_status(self) -> None:
        screen = self.exchanges
        exchanges = screen.list
        predicate = screen.filter_bar.active
        status = Status(
            paused=self.paused,
            held=len(self.held),
            discarded=self.discarded,
            shown=len(exchanges.rows),
            total=len(self.store),
            marked=len(exchanges.marked),
            dropped=self.store.events_dropped,
            evicted=self.store.evicted,
            workers=self.peers() if self.peers is not None else None,
            filter_text=str(predicate) if predicate is not None else "",
            following=exchanges.follow,
        )
        screen.status_bar.show(status)

    # -- actions ---------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            held, self.held, self.discarded = self.held, [], 0
            if held:
                self._fold(held)
        self.update_status()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def clear(self) -> None:
        self.store.clear()
        self.held.clear()
        self.discarded = 0
        self.exchanges.list.reset()
        self.update_status()

    def copy_curl(self, exchange: Exchange) -> None:
        try:
            command = curl(exchange)
        except ValueError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.copy_to_clipboard(command)
        self.notify(command if len(command) < 200 else command[:199] + "…", title="Copied curl")

    def replay(self, exchange: Exchange) -> None:
        if exchange.request is None or exchange.is_websocket:
            self.notify("only HTTP requests can be replayed", severity="warning")
            return
        self.run_worker(self._replay(exchange), group="replay", exit_on_error=False)

    async def _replay(self, exchange: Exchange) -> None:
        try:
            xid, error = await replay(exchange, self.feed, base=self.replay_base)
        except Exception as exc:  # a replay must never take the viewer down
            self.notify(f"replay failed: {exc}", title="Replay", severity="error")
            return
        if error is not None:
            self.notify(f"replay failed: {error}", title="Replay", severity="error")
        else:
            self.notify(f"replayed as {xid}", title="Replay")

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.exchanges
        yield SystemCommand("Filter exchanges", "Open the filter bar", main.action_filter)
        yield SystemCommand("Pause or resume", "Hold incoming events", self.action_toggle_pause)
        yield SystemCommand("Clear", "Forget every exchange", self.clear)
        yield SystemCommand("Export", "Marked exchanges, else all shown", main.action_export)
        yield SystemCommand("Follow", "Jump to the newest exchange", main.action_follow)
        yield SystemCommand("Keys and filters", "Show the help", self.action_help)
