"""The live viewer: `InspectorApp` owns the store, takes events from any thread, and folds them
in a few times per second.

`feed(events)` only appends to a pending list under a lock and, if none is waiting, posts one
`EventsPending` message (replaceable, so a burst costs one). The UI thread folds the pending
events into the `Store` at most every `FLUSH_INTERVAL` seconds and in slices of `FLUSH_BATCH`
events, so keys are handled between slices of a large backlog. While paused, events are held
(up to `MAX_HELD`, beyond which they are discarded and counted); resuming puts them back at
the front of the pending list, to be folded in slices like any backlog. Screens and widgets
live in `tui.screens` and `tui.widgets`; this module only wires them: screens post what the
user asked for (inject, intercept, release) and the app answers, through `TrafficActions`
(`tui.acting`) for what goes to the relay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer

from inspector.events import Event
from inspector.observe.apps import LoadedApp
from inspector.observe.exchange import Exchange
from inspector.observe.export import curl
from inspector.observe.store import Store
from tui.acting import TrafficActions
from tui.replaying import Replayer
from tui.screens.clipboard import in_tmux, place
from tui.screens.compare import CompareScreen
from tui.screens.detail import DetailScreen, ReplayRequested
from tui.screens.edit import EditedReplayRequested
from tui.screens.exchanges import ExchangesScreen
from tui.screens.help import HelpScreen
from tui.screens.inject import InjectRequested, InjectScreen, InjectSubmitted
from tui.screens.intercept import (
    InterceptRequested,
    InterceptScreen,
    InterceptSubmitted,
    ReleaseAllRequested,
    ReleaseRequested,
)
from tui.screens.log import LogScreen
from tui.widgets.cells import printable
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
        Binding("L", "server_log", "Server log"),
        # Textual's own Ctrl-C only says to press Ctrl-Q; an Input's copy must not keep it.
        Binding("ctrl+c", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        store: Store | None = None,
        *,
        title: str = "inspector",
        subtitle: str = "",
        peers: Callable[[], int] | None = None,
        replay_base: str | None = None,
        listening: str | None = None,
        saved: bool = False,
        log_path: str | Path | None = None,
        control: str | Path | None = None,
        replay_app: LoadedApp | None = None,
    ) -> None:
        """`peers`: how many processes send events now; `replay_base`: where replays go (else
        to the host each request names); `listening`: the address apps send events to (`inspector
        listen`), which an empty list shows with how to connect an app; `saved`: the events
        come from a session file (`inspector open`): not live, nothing to pause; `log_path`:
        the file the server's output goes to (`inspector run`), which `L` shows; `control`: the
        relay's control socket (`inspect-proxy`, `inspector demo`), through which the viewer
        injects, intercepts and releases; `replay_app`: the app object (`inspector listen
        --app`) that HTTP replays go through, in process, instead of the network."""
        super().__init__()
        self.store = store if store is not None else Store()
        self.title = title
        self.sub_title = self._subtitle = subtitle
        self.peers = peers
        self.replay_base = replay_base
        self.replay_app = replay_app
        self.listening = listening
        self.saved = saved
        self.log_path = Path(log_path) if log_path is not None else None
        self.actions = TrafficActions(self, control)
        self.replayer = Replayer(self)
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
        self._reveal: str | None = None
        self.otlp_status: Callable[[], str] | None = None
        """What `--otlp` sent and dropped, for the status bar (set by `tui.outputs`)."""
        """A replay's exchange id: its row gets the cursor once it is listed."""

    def get_default_screen(self) -> Screen[None]:
        return ExchangesScreen(self.store, listening=self.listening, saved=self.saved)

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
        self.update_status()  # even with nothing to fold: the status bar is never blank

    async def on_unmount(self) -> None:
        with self._lock:
            self._closed = True
            self._pending.clear()
        await self.actions.close()

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
        if self._timer is not None:  # a fold is already on its way
            return
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
        if self._reveal is not None and any(exchange.id == self._reveal for exchange in new):
            self.exchanges.list.select(self._reveal)
            self._reveal = None
        self._refresh_details(touched)
        if self.actions.touched(self.store, touched):
            self.intercept_changed()
        self.update_status()

    def _refresh_details(self, touched: set[str]) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, CompareScreen):  # a replay still running, its original
                if {screen.original.id, screen.replay.id} & touched:
                    screen.show(screen.original, screen.replay)
                continue
            if not isinstance(screen, DetailScreen) or screen.forgotten:
                continue
            if self.store.get(screen.exchange.id) is not screen.exchange:  # evicted or cleared
                screen.forget()
            elif screen.exchange.id in touched:
                screen.show(screen.exchange)

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
            forgotten=getattr(self.store, "forgotten", 0),
            saved=self.saved,
            capture_errors=self.store.capture_failures,
            overhead=self.store.overhead,
            otlp=self.otlp_status() if self.otlp_status is not None else "",
        )
        screen.status_bar.show(status)

    # -- actions ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_pause":  # a saved session: nothing arrives that could be held
            return not self.saved
        if action == "server_log":
            return self.log_path is not None
        return True

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.held:
            held, self.held = self.held, []
            with self._lock:  # before anything fed since, in slices like any backlog
                self._pending[:0] = held
                self._notified = True
            if self._timer is not None:
                self._timer.stop()
            self._fold_pending()
        self.update_status()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_server_log(self) -> None:
        if self.log_path is not None and not isinstance(self.screen, LogScreen):
            self.push_screen(LogScreen(self.log_path))

    def clear(self) -> None:
        self.store.clear()
        self.held.clear()
        self.discarded = 0
        self.exchanges.list.reset()
        self._refresh_details(set())
        self.intercept_changed()
        self.update_status()

    # -- acting on live traffic (posted by the screens) -----------------------------------------

    def on_inject_requested(self, message: InjectRequested) -> None:
        reason = self.actions.inject_refusal(message.exchange)
        if reason is not None:
            self.tell(f"cannot inject: {reason}", title="Inject", severity="warning")
        elif not isinstance(self.screen, InjectScreen):
            self.push_screen(InjectScreen(message.exchange, to=message.to, typed=message.typed))

    def on_inject_submitted(self, message: InjectSubmitted) -> None:
        self.actions.inject(message.exchange_id, message.to, message.opcode, message.payload)

    def on_intercept_requested(self, message: InterceptRequested) -> None:
        reason = self.actions.intercept_refusal()
        if reason is not None:
            self.tell(f"cannot intercept: {reason}", title="Intercept", severity="warning")
        elif not any(isinstance(screen, InterceptScreen) for screen in self.screen_stack):
            self.push_screen(InterceptScreen(self.actions.filters, self.actions.holds(self.store)))

    def on_intercept_submitted(self, message: InterceptSubmitted) -> None:
        self.actions.intercept(message.filters)

    def on_release_requested(self, message: ReleaseRequested) -> None:
        self.actions.release(message.held, message.action, message.edited)

    def on_release_all_requested(self, message: ReleaseAllRequested) -> None:
        self.actions.release_all(message.action)

    def intercept_changed(self) -> None:
        """Holds came or went, or the filters changed: the intercept screen shows it."""
        screens = [s for s in self.screen_stack if isinstance(s, InterceptScreen)]
        if screens:
            holds = self.actions.holds(self.store)
            for screen in screens:
                screen.filters = self.actions.filters
                screen.show_holds(holds)

    def copy_curl(self, exchange: Exchange) -> None:
        """Inside tmux into its paste buffer, elsewhere by OSC 52 and into a file; the
        notification says which (see `tui.screens.clipboard`)."""
        try:
            command = curl(exchange)
        except ValueError as exc:
            self.tell(str(exc), severity="warning")
            return
        tmux = in_tmux()
        if not tmux:  # inside tmux OSC 52 is dropped by default: its buffer is used instead
            self.copy_to_clipboard(command)
        self.run_worker(
            partial(self._place_copy, command, tmux), thread=True, group="copy", exit_on_error=False
        )

    def _place_copy(self, command: str, tmux: bool) -> None:
        """On a thread: tmux and the disk may be slow. `tell` is thread-safe."""
        placed = place(command, tmux=tmux)
        preview = command if len(command) < 200 else command[:199] + "…"
        self.tell(f"{placed.message}\n{preview}", title=placed.title, severity=placed.severity)

    def replay(self, exchange: Exchange, *, paced: bool = False) -> None:
        self.replayer.replay(exchange, paced=paced)

    def reveal(self, exchange_id: str | None) -> None:
        """Give `exchange_id`'s row the cursor once it is listed (a replay's); None: forget."""
        self._reveal = exchange_id

    def on_replay_requested(self, message: ReplayRequested) -> None:
        exchange = message.exchange
        if message.how == "edit":
            self.replayer.edit(exchange)
        elif message.how == "compare":
            self.replayer.compare(exchange)
        else:
            self.replayer.replay(exchange, paced=message.how == "paced")

    def on_edited_replay_requested(self, message: EditedReplayRequested) -> None:
        self.replayer.send_edited(message.exchange, message.request)

    def tell(
        self, message: str, *, title: str = "", severity: SeverityLevel = "information"
    ) -> None:
        """A notification quoting captured or user text: no markup, no control characters.
        Thread-safe, like `notify`."""
        self.notify(
            printable(message, multiline=True), title=title, severity=severity, markup=False
        )

    def saving_trouble(self, message: str, *, note: str, severity: SeverityLevel) -> None:
        """The session file could not be written (a full disk), or can be again: `message` in a
        notification, and `note` after the subtitle, where it stays once that has faded. On the
        app's thread."""
        self.sub_title = " · ".join(filter(None, (self._subtitle, printable(note))))
        self.tell(message, title="Session", severity=severity)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not self.saved:
            yield SystemCommand("Pause or resume", "Hold incoming events", self.action_toggle_pause)
        yield SystemCommand("Keys and filters", "Show the help", self.action_help)
        if self.log_path is not None:
            yield SystemCommand("Server log", "The command's output", self.action_server_log)
        if isinstance(screen, ExchangesScreen):  # these act on the list: offered only there
            yield SystemCommand("Filter exchanges", "Open the filter bar", screen.action_filter)
            yield SystemCommand("Clear", "Forget every exchange", screen.action_clear)
            yield SystemCommand("Export", "Marked exchanges, else all shown", screen.action_export)
            yield SystemCommand("Follow", "Jump to the newest exchange", screen.action_follow)
