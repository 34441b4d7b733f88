"""Acting on live traffic from the viewer: inject, intercept and release, through the relay.

`TrafficActions` belongs to the app. It knows the relay's private control socket (the path
`inspect-proxy` and `inspector demo` give their viewer with `inspector listen --control`),
opens a `ControlClient` on it the first time an action needs it, sends each action in a
worker (so the UI never waits on the relay) and says how it went in a notification: what
was done, or the relay's sentence. It also says why an action is not possible at all in
this viewer (a saved session, `inspector listen` alone). Which holds exist is read from the
store: `holding` keeps the ids of the exchanges that hold something, updated per fold.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from inspector.observe.control import ActionError, ControlClient
from inspector.observe.exchange import Exchange
from inspector.observe.filters import FilterError
from inspector.observe.store import Store
from tui.console import size
from tui.screens.hold_edit import Edited
from tui.screens.inject import Direction, InjectScreen, refusal
from tui.screens.intercept import KINDS, Filters
from tui.widgets.holds import Held

if TYPE_CHECKING:
    from tui.app import InspectorApp

NO_FILTERS: Filters = (None, None, None)
Release = Literal["forward", "drop", "edit"]


class TrafficActions:
    def __init__(self, app: InspectorApp, control: str | Path | None) -> None:
        self.app = app
        self.control = Path(control) if control is not None else None
        self.filters: Filters = NO_FILTERS
        """What the relay was last told to hold (it starts holding nothing)."""
        self.holding: set[str] = set()
        self._client: ControlClient | None = None

    # -- what is possible here ------------------------------------------------------------------

    def inject_refusal(self, exchange: Exchange) -> str | None:
        return refusal(exchange, live=self.control is not None, saved=self.app.saved)

    def intercept_refusal(self) -> str | None:
        if self.app.saved:
            return "a saved session: nothing passes through a proxy now, nothing can be held"
        if self.control is None:
            return (
                "this viewer has no proxy to hold traffic in: intercept works in the viewer "
                "of inspect-proxy or inspector demo (inspector listen only receives events)"
            )
        return None

    # -- holds ----------------------------------------------------------------------------------

    def touched(self, store: Store, ids: Iterable[str]) -> bool:
        """Note which of the exchanges `ids` hold something; True if that set changed or a
        holding exchange was touched (the intercept screen then has something to show)."""
        changed = False
        for xid in ids:
            exchange = store.get(xid)
            if exchange is not None and exchange.holds:
                self.holding.add(xid)
                changed = True
            elif xid in self.holding:
                self.holding.discard(xid)
                changed = True
        return changed

    def holds(self, store: Store) -> list[Held]:
        """Every hold of every exchange still in the store, by hold number (arrival order)."""
        held: list[Held] = []
        for xid in list(self.holding):
            exchange = store.get(xid)
            if exchange is None or not exchange.holds:  # evicted or cleared meanwhile
                self.holding.discard(xid)
                continue
            held.extend((exchange, hold) for hold in exchange.holds.values())
        return sorted(held, key=lambda pair: pair[1].hold)

    # -- actions --------------------------------------------------------------------------------

    def _connection(self) -> ControlClient:
        if self._client is None:
            assert self.control is not None  # refused before any action gets here
            self._client = ControlClient(str(self.control))
        return self._client

    def inject(self, exchange_id: str, to: Direction, opcode: int, payload: bytes) -> None:
        self.app.run_worker(
            self._inject(exchange_id, to, opcode, payload), group="control", exit_on_error=False
        )

    async def _inject(self, exchange_id: str, to: Direction, opcode: int, payload: bytes) -> None:
        try:
            await self._connection().inject(exchange_id, to, opcode, payload)
        except ActionError as exc:
            self.app.tell(f"not injected: {exc}", title="Inject", severity="error")
            return
        kind = "text" if opcode == 1 else "binary"
        who = "the app" if to == "server" else "the client"
        self.app.tell(f"injected a {kind} message of {size(len(payload))} to {who}", title="Inject")
        for screen in self.app.screen_stack:  # done with: its text was sent
            if isinstance(screen, InjectScreen) and screen.exchange.id == exchange_id:
                screen.dismiss()

    def intercept(self, filters: Filters) -> None:
        self.app.run_worker(self._intercept(filters), group="control", exit_on_error=False)

    async def _intercept(self, filters: Filters) -> None:
        try:
            blind = await self._connection().intercept(*filters)
        except (ActionError, FilterError) as exc:
            self.app.tell(f"intercept not changed: {exc}", title="Intercept", severity="error")
            return
        self.filters = filters
        self.app.intercept_changed()
        terms = [f"{kind} {text}" for kind, text in zip(KINDS, filters, strict=True) if text]
        if terms:
            said = "holding " + "; ".join(terms)
            if blind:
                said += (
                    f"\n{blind:,} open WebSocket connection{'s' * (blind != 1)} compress"
                    f"{'es' * (blind == 1)} with context takeover and opened before this rule:"
                    " their compressed messages match on direction, type and size, not on"
                    " content (~b), and can only be forwarded, until they reconnect."
                )
        else:
            said = "intercept off: nothing more is held (what is held stays until released)"
        self.app.tell(said, title="Intercept")

    def release(self, held: Held, action: Release, edited: Edited | None = None) -> None:
        self.app.run_worker(
            self._release(held, action, edited), group="control", exit_on_error=False
        )

    async def _release(self, held: Held, action: Release, edited: Edited | None) -> None:
        hold = held[1]
        fields = edited or Edited()
        try:
            await self._connection().release(
                hold.hold,
                action,
                opcode=fields.opcode,
                payload=fields.payload,
                head=fields.head,
                body=fields.body,
            )
        except ActionError as exc:
            self.app.tell(f"hold #{hold.hold}: {exc}", title="Intercept", severity="error")
            return
        done = {"forward": "forwarded", "drop": "dropped", "edit": "edited and forwarded"}
        self.app.tell(f"hold #{hold.hold} {done.get(action, action)}", title="Intercept")

    def release_all(self, action: Literal["forward", "drop"]) -> None:
        self.app.run_worker(self._release_all(action), group="control", exit_on_error=False)

    async def _release_all(self, action: Literal["forward", "drop"]) -> None:
        try:
            await self._connection().release_all(action)
        except ActionError as exc:
            self.app.tell(f"not released: {exc}", title="Intercept", severity="error")
            return
        said = "forwarded" if action == "forward" else "dropped"
        self.app.tell(f"every hold {said}", title="Intercept")

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
