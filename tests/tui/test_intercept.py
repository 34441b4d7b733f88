"""Intercept (`I`): filters checked while typing, armed and disarmed through a real relay's
control socket; held messages listed live (and marked in the exchange list), then edited,
dropped, forwarded, all forwarded or all dropped, with what the app echoes asserted on the
client; a hold that cannot be edited (permessage-deflate with context takeover) says why and
offers forwarding or injecting instead; and why intercept is not possible where it is not."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static, TextArea
from websockets.asyncio.client import ClientConnection, connect

from inspector import events as ev
from tests.servers import Server
from tests.tui.pilot import SIZE, until
from tests.tui.relay import control_path, listed, relay, upstream
from tests.tui.test_actions import notified
from tests.tui.test_detail import text_of
from tui.app import InspectorApp
from tui.scenarios import session
from tui.screens.detail import DetailScreen
from tui.screens.hold_edit import HoldEditScreen, NotEditableScreen
from tui.screens.inject import InjectScreen
from tui.screens.intercept import InterceptScreen

__all__ = ["upstream"]  # the fixture, used by name


async def test_why_not() -> None:
    for app, said in (
        (InspectorApp(saved=True), "a saved session"),
        (InspectorApp(), "this viewer has no proxy to hold traffic in"),
    ):
        app.feed(session())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("I")
            await until(pilot, lambda: bool(notified(app, "Intercept")))  # noqa: B023
            assert said in notified(app, "Intercept")[0]
            assert not isinstance(app.screen, InterceptScreen)


async def test_filters_are_checked_while_typing() -> None:
    app = InspectorApp(control="x.sock")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("I")
        await until(pilot, lambda: isinstance(app.screen, InterceptScreen))
        screen = app.screen
        error = screen.query_one("#messages-error", Static)
        await pilot.press(*"~from x")
        assert error.has_class("-shown")
        assert "~from needs client or server, got 'x'" in text_of(error)
        screen.query_one("#responses", Input).value = "~c 9xx"
        await pilot.pause()
        assert "~c" in text_of(screen.query_one("#responses-error", Static))
        await pilot.press("enter")
        await until(pilot, lambda: bool(notified(app, "")))
        assert "not armed: a filter has a mistake" in [n.message for n in app._notifications]
        screen.query_one("#messages", Input).value = "~from client"
        await pilot.pause()
        assert not error.has_class("-shown")
        await pilot.press("escape")
        assert not isinstance(app.screen, InterceptScreen)


async def _arm(pilot: Pilot[None], app: InspectorApp, messages: str) -> InterceptScreen:
    await pilot.press("I")
    await until(pilot, lambda: isinstance(app.screen, InterceptScreen))
    screen = app.screen
    assert isinstance(screen, InterceptScreen)
    screen.query_one("#messages", Input).value = messages
    await pilot.press("enter")
    await until(pilot, lambda: app.actions.filters[0] == messages)
    assert f"holding messages {messages}" in notified(app, "Intercept")[-1]
    screen.holds.focus()
    return screen


async def _held(pilot: Pilot[None], screen: InterceptScreen, count: int) -> None:
    await until(pilot, lambda: len(screen.holds.rows) == count)


async def _nothing_pending(ws: ClientConnection) -> None:
    """A round trip that is not held: what was sent before it has arrived, or never will."""
    await ws.send("marker")
    assert await ws.recv() == "marker"


async def test_hold_edit_drop_forward_and_all(upstream: Server, tmp_path: Path) -> None:
    app = InspectorApp(control=control_path(tmp_path))
    async with (
        app.run_test(size=SIZE) as pilot,
        relay(app, upstream) as proxy,
        connect(f"ws://127.0.0.1:{proxy.port}/ws/echo", compression=None) as ws,
    ):
        await ws.send("hello")
        assert await ws.recv() == "hello"
        exchange = await listed(pilot, app, "/ws/echo", "open")
        screen = await _arm(pilot, app, "~from client & ~b hold")

        await ws.send("hold me")
        await _held(pilot, screen, 1)
        assert "hold me" in text_of(screen.query_one("#hold-detail", Static))
        assert "1 held" in text_of(screen.query_one("#intercept-title", Static))
        row = app.exchanges.list.render_row(exchange, 0, 160).plain
        assert row[1] == "⏸", "the exchange list marks what holds"
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, HoldEditScreen))
        app.screen.query_one("#body", TextArea).text = "edited in the viewer"
        await pilot.press("ctrl+s")
        assert await ws.recv() == "edited in the viewer"
        await _held(pilot, screen, 0)
        assert app.exchanges.list.render_row(exchange, 0, 160).plain[1] != "⏸"

        await ws.send("hold, then drop")
        await _held(pilot, screen, 1)
        await pilot.press("d")
        await _held(pilot, screen, 0)
        await _nothing_pending(ws)

        await ws.send("hold, then forward")
        await _held(pilot, screen, 1)
        await pilot.press("f")
        assert await ws.recv() == "hold, then forward"

        await ws.send("hold all: forwarded")
        await _held(pilot, screen, 1)
        await pilot.press("F")
        assert await ws.recv() == "hold all: forwarded"
        await ws.send("hold all: dropped")
        await _held(pilot, screen, 1)
        await pilot.press("D")
        await _held(pilot, screen, 0)
        await _nothing_pending(ws)
        await until(pilot, lambda: notified(app, "Intercept")[-1] == "every hold dropped")
        said = notified(app, "Intercept")
        assert [s for s in said if s.startswith("hold #")] == [
            f"hold #{n} {done}"
            for n, done in ((1, "edited and forwarded"), (2, "dropped"), (3, "forwarded"))
        ]
        assert "every hold forwarded" in said

        await pilot.press("n")  # disarmed: the same message goes straight through
        await until(pilot, lambda: app.actions.filters == (None, None, None))
        await ws.send("hold? not any more")
        assert await ws.recv() == "hold? not any more"
        assert not screen.holds.rows


async def test_a_hold_that_cannot_be_edited(upstream: Server, tmp_path: Path) -> None:
    """permessage-deflate with context takeover: later messages refer back to a compressed
    one, so it can be forwarded, not edited; a changed copy can be injected instead."""
    app = InspectorApp(control=control_path(tmp_path))
    async with (
        app.run_test(size=SIZE) as pilot,
        relay(app, upstream) as proxy,
        connect(f"ws://127.0.0.1:{proxy.port}/ws/echo", compression="deflate") as ws,
    ):
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await listed(pilot, app, "/ws/echo", "open")
        screen = await _arm(pilot, app, "~from client & ~text")  # its payload is not readable
        # Armed after it opened: the viewer says its content cannot be matched.
        assert "1 open WebSocket connection compresses with context takeover" in " ".join(
            notified(app, "Intercept")[-1].split()
        )
        await ws.send("compressed and held " * 4)
        await _held(pilot, screen, 1)
        hold = screen.holds.rows[0][1]
        assert hold.editable, "the relay says why not"
        assert "not editable" in text_of(screen.query_one("#hold-detail", Static))
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, NotEditableScreen))
        assert hold.editable in " ".join(text_of(app.screen.query_one(Static)).split())
        await pilot.press("i")  # a new message instead: the inject screen, towards the app
        await until(pilot, lambda: isinstance(app.screen, InjectScreen))
        inject = app.screen
        assert isinstance(inject, InjectScreen)
        assert inject.to == "server"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, NotEditableScreen))
        await pilot.press("f")
        assert await ws.recv() == "compressed and held " * 4
        await _held(pilot, screen, 0)
        await pilot.press("n")
        await until(pilot, lambda: app.actions.filters == (None, None, None))
        await ws.send("after it")
        assert await ws.recv() == "after it", "both compression contexts intact"


async def test_holds_leave_when_the_connection_dies(upstream: Server, tmp_path: Path) -> None:
    app = InspectorApp(control=control_path(tmp_path))
    async with app.run_test(size=SIZE) as pilot, relay(app, upstream) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/ws/echo", compression=None) as ws:
            await ws.send("hello")
            await ws.recv()
            await listed(pilot, app, "/ws/echo", "open")
            screen = await _arm(pilot, app, "~b held")
            await ws.send("held, then the client leaves")
            await _held(pilot, screen, 1)
        await _held(pilot, screen, 0)
        await pilot.press("f")  # nothing left to act on: no crash, nothing said
        await asyncio.sleep(0)
        assert isinstance(app.screen, InterceptScreen)


async def test_a_forgotten_hold_goes_on_after_the_timeout(upstream: Server, tmp_path: Path) -> None:
    app = InspectorApp(control=control_path(tmp_path))
    async with (
        app.run_test(size=SIZE) as pilot,
        relay(app, upstream, hold_timeout=0.2) as proxy,
        connect(f"ws://127.0.0.1:{proxy.port}/ws/echo", compression=None) as ws,
    ):
        await ws.send("hello")
        await ws.recv()
        exchange = await listed(pilot, app, "/ws/echo", "open")
        await pilot.press("enter")  # `I` from the detail screen too
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        screen = await _arm(pilot, app, "~bq forgotten")
        await ws.send("forgotten")
        assert await ws.recv() == "forgotten", "forwarded unchanged after --hold-timeout"
        await _held(pilot, screen, 0)
        released = [e for e in exchange.events if isinstance(e, ev.HoldReleased)]
        assert [e.action for e in released] == ["timed out"]
