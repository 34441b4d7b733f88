"""The viewer's replay actions: replay an exchange (HTTP, or a WebSocket conversation, as
fast as possible or paced as captured), edit an HTTP request and send it, compare a replay
with its original.

`Replayer(app)` is what the app calls from its keys (`r`, `R`, `e`, `=`) and from
`EditedReplayRequested`. The engines (`inspector.observe.replay`, `.replay_ws`, `.edit`) need
no UI; this module runs them in the app's workers, feeds their events to the app like any
captured ones (so a replay is a ↻ row in the list, filters and exports), gives the new row
the cursor (`app.reveal`), and says how it went in a notification. Nothing here raises into
the viewer: a target that is down is a failed row and an error notification.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.app import App
from textual.notifications import SeverityLevel

from inspector import events as ev
from inspector.observe import replay as http
from inspector.observe.edit import EditedRequest, editable, prepare_edited
from inspector.observe.exchange import Exchange
from inspector.observe.replay_ws import replay_websocket, summary_websocket
from inspector.observe.store import Store
from tui.screens.compare import CompareScreen
from tui.screens.edit import EditScreen

if TYPE_CHECKING:
    from inspector.observe.apps import LoadedApp
    from inspector.observe.replay_connection import WebSocketReplayed

TITLE = "Replay"


class ReplayHost(Protocol):
    """What the Replayer needs of the app beyond Textual's `App` (InspectorApp has all but
    `reveal`, which gives a row the cursor once it is listed: None forgets a pending one)."""

    store: Store
    replay_base: str | None
    replay_app: LoadedApp | None

    def feed(self, events: Sequence[ev.Event]) -> None: ...

    def tell(self, message: str, *, title: str = "", severity: SeverityLevel = ...) -> None: ...

    def reveal(self, exchange_id: str | None) -> None: ...


class Replayer:
    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.host = cast(ReplayHost, app)

    def original_of(self, exchange: Exchange) -> Exchange | None:
        """The exchange `exchange` replays, while the store still holds it."""
        request = exchange.request
        original = request.snapshot.get("replay_of") if request is not None else None
        return self.host.store.get(original) if isinstance(original, str) else None

    # -- replay as captured ----------------------------------------------------------------------

    def replay(self, exchange: Exchange, *, paced: bool = False) -> None:
        """Replay `exchange` (`paced`: a WebSocket's client messages with their captured
        spacing); the new row gets the cursor."""
        if exchange.request is None:
            self.host.tell("nothing to replay: no request was captured", title=TITLE)
            return
        if exchange.is_websocket:
            xid = self._start()
            self._run(self._replay_websocket(exchange, xid, paced))
            return
        if paced:
            self.host.tell("paced replay is for WebSocket conversations: sent at once", title=TITLE)
        warning = http.replay_warning(exchange)
        if warning is not None:
            self.host.tell(warning, title=TITLE, severity="warning")
        xid = self._start()
        self._run(self._replay_http(exchange, xid))

    def _start(self) -> str:
        xid = ev.new_exchange_id()
        self.host.reveal(xid)
        return xid

    def _run(self, work: Awaitable[None]) -> None:
        self.app.run_worker(self._guarded(work), group="replay", exit_on_error=False)

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:  # a replay must never take the viewer down
            self.host.tell(f"replay failed: {exc}", title=TITLE, severity="error")

    async def _replay_http(self, exchange: Exchange, xid: str) -> None:
        loaded = self.host.replay_app
        if loaded is not None:  # `inspector listen --app`: through the app object itself
            from inspector.observe.inprocess import replay_in_process

            ran = await replay_in_process(exchange, self.host.feed, loaded, xid=xid)
            self._said(ran.summary(loaded.target), ran.error)
            return
        done = await http.replay(exchange, self.host.feed, xid=xid, base=self.host.replay_base)
        if done.request is None:  # nothing was sent: no row to await
            self.host.reveal(None)
        self._said(http.summary(exchange, done), done.error)

    async def _replay_websocket(self, exchange: Exchange, xid: str, paced: bool) -> None:
        done: WebSocketReplayed = await replay_websocket(
            exchange, self.host.feed, xid=xid, base=self.host.replay_base, paced=paced
        )
        if done.request is None:
            self.host.reveal(None)
        self._said(summary_websocket(done), done.error)

    def _said(self, message: str, error: str | None) -> None:
        severity: SeverityLevel = "error" if error is not None else "information"
        self.host.tell(message, title=TITLE, severity=severity)

    # -- edit and replay -------------------------------------------------------------------------

    def edit(self, exchange: Exchange) -> None:
        """Open the editor on `exchange`'s request; it posts `EditedReplayRequested`."""
        try:
            start = editable(exchange, self.host.replay_base)
        except ValueError as exc:
            self.host.tell(str(exc), title="Edit and replay", severity="warning")
            return
        self.app.push_screen(EditScreen(exchange, start))

    def send_edited(self, exchange: Exchange, edited: EditedRequest) -> None:
        """Send `edited` as a replay of `exchange`; the new row gets the cursor."""
        original = exchange.request
        source: ev.Source = original.source if original is not None else "proxy"
        request = prepare_edited(edited)
        xid = self._start()

        async def send() -> None:
            done = await http.send(
                request, self.host.feed, replay_of=exchange.id, source=source, xid=xid
            )
            what = f"{request.method} {request.target.decode('latin-1')}"
            if done.error is not None:
                first = f"{what}: edited replay failed: {done.error}"
            else:
                first = f"{what} answered {done.status} {done.reason}".rstrip()
                first += ": the new ↻ row; = compares it with the original."
            self._said("\n".join([first, *request.notes]), done.error)

        self._run(send())

    # -- compare ---------------------------------------------------------------------------------

    def compare(self, exchange: Exchange) -> None:
        """Show a ↻ replay beside its original, or say why it cannot be."""
        request = exchange.request
        if request is None or "replay_of" not in request.snapshot:
            self.host.tell(
                "= compares a ↻ replay with its original: this row is not a replay",
                title="Compare",
            )
            return
        original = self.original_of(exchange)
        if original is None:
            self.host.tell(
                "its original is no longer listed (evicted or cleared): nothing to compare with",
                title="Compare",
                severity="warning",
            )
            return
        self.app.push_screen(CompareScreen(original, exchange))
