"""`python -m tui.screenshots`: drive the viewer with Pilot over the scenarios and save pictures.

Writes `screenshots/<name>.svg` and `.png` (through `/work/shared/tools/svg2png`, when it is
there) for the list, a JSON response, the timing waterfall, the event timeline, a WebSocket
conversation, the spec checks' findings, the Diff of a request paired across the proxy and
the app, and acting on live traffic: the inject screen and the intercept screen with held
messages (`live()` of the scenarios, on a viewer given a control socket it never needs here).
The snapshot tests open the same views with `open_view` and `ACTIONS`, so what the README
shows is what the tests pin. Clocks are shown in UTC so every run draws the same pictures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import TextArea

from inspector.events import Event
from tui.app import InspectorApp
from tui.scenarios import (
    CHAT_REPLAY,
    HOLDING,
    LIVE,
    PROXY,
    WEB1,
    WEB2,
    chat_replay,
    live,
    mistakes,
    paired,
    session,
)
from tui.screens.compare import CompareScreen
from tui.screens.detail import DetailScreen
from tui.screens.inject import InjectScreen
from tui.screens.intercept import InterceptScreen

SIZE = (120, 36)
SVG2PNG = Path("/work/shared/tools/svg2png")
VIEWS: dict[str, tuple[str | None, str]] = {
    "list": (None, ""),
    "detail-response": (f"{WEB1}-1", "response"),
    "detail-request": (f"{WEB1}-2", "request"),
    "timing": (f"{WEB2}-3", "timing"),
    "events": (f"{WEB2}-3", "events"),
    "websocket": (f"{PROXY}-3", "messages"),
    "checks": (f"{WEB2}-7", "checks"),
    "diff": (f"{PROXY}-5", "diff"),
}
MORE: dict[str, list[Callable[[], list[Event]]]] = {"checks": [mistakes], "diff": [paired]}
"""Exchanges a view adds after the session (so the other views stay as they are)."""
_TAB_KEYS = {
    "request": "1",
    "response": "2",
    "timing": "3",
    "events": "4",
    "messages": "5",
    "checks": "6",
    "diff": "7",
}


def utc() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()


CONTROL = "/nonexistent/inspector-control.sock"
"""A control socket path for the action views: they open screens and send nothing."""


def scenario_app(*more: list[Event], control: str | None = None) -> InspectorApp:
    """The viewer over the scenario's session, and `more` events after it."""
    app = InspectorApp(
        title="inspector", subtitle="scenario: session", peers=lambda: 3, control=control
    )
    app.feed(session())
    for events in more:
        app.feed(events)
    return app


def view_app(name: str) -> InspectorApp:
    """The viewer for the view `name`: the session and what that view adds."""
    return scenario_app(*(make() for make in MORE.get(name, ())))


async def open_view(pilot: Pilot[None], exchange_id: str | None, tab: str) -> None:
    """Wait for the scenario to be folded in, then open `exchange_id` on `tab`."""
    app = pilot.app
    assert isinstance(app, InspectorApp)
    for _ in range(200):
        if app.exchanges.list.rows:
            break
        await pilot.pause(0.01)
    if exchange_id is None:
        await pilot.pause()  # the key footer is composed once the screen has drawn
        return
    rows = app.exchanges.list.rows
    index = next(i for i, exchange in enumerate(rows) if exchange.id == exchange_id)
    app.exchanges.list.move_cursor(index)
    await pilot.press("enter", _TAB_KEYS[tab])
    await pilot.pause()
    screen = app.screen
    if not isinstance(screen, DetailScreen) or screen.exchange.id != exchange_id:
        raise RuntimeError(f"expected the detail of {exchange_id}, got {screen!r}")
    if tab == "messages":
        await pilot.press("home", "down")  # the "joined" message: its JSON pretty-printed below
    await pilot.pause()


async def open_inject(pilot: Pilot[None]) -> None:
    """The inject screen on the live order feed, a JSON message to the client typed in."""
    await open_view(pilot, None, "")
    app = pilot.app
    assert isinstance(app, InspectorApp)
    app.exchanges.list.select(LIVE)
    await pilot.press("i")
    screen = app.screen
    if not isinstance(screen, InjectScreen):
        raise RuntimeError(f"expected the inject screen, got {screen!r}")
    await pilot.click("#client")
    await pilot.click("#json")
    screen.query_one(TextArea).text = '{"type": "notice", "text": "back in stock: teapot"'
    await pilot.pause()


async def open_intercept(pilot: Pilot[None]) -> None:
    """The intercept screen, armed as the scenario was, its first held order selected."""
    await open_view(pilot, None, "")
    app = pilot.app
    assert isinstance(app, InspectorApp)
    app.actions.filters = (HOLDING, None, None)
    await pilot.press("I")
    screen = app.screen
    if not isinstance(screen, InterceptScreen):
        raise RuntimeError(f"expected the intercept screen, got {screen!r}")
    screen.holds.focus()
    await pilot.press("home")
    await pilot.pause()


async def open_compare(pilot: Pilot[None]) -> None:
    """The chat and its replay side by side, scrolled to the messages that differ."""
    app = pilot.app
    assert isinstance(app, InspectorApp)
    for _ in range(200):
        if app.store.get(CHAT_REPLAY) is not None:
            break
        await pilot.pause(0.01)
    original, replay = app.store.get(f"{PROXY}-3"), app.store.get(CHAT_REPLAY)
    assert original is not None
    assert replay is not None
    app.push_screen(CompareScreen(original, replay))
    await pilot.pause()
    app.screen.query_one("#compare-body").scroll_end(animate=False)
    await pilot.pause()


ACTIONS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "inject": open_inject,
    "intercept": open_intercept,
    "compare": open_compare,
}
"""Views of acting on live traffic, over `scenario_app(live(), control=CONTROL)`."""


def action_app(name: str) -> InspectorApp:
    """The viewer `ACTIONS[name]` opens its screen on."""
    if name == "compare":
        return scenario_app(chat_replay())
    return scenario_app(live(), control=CONTROL)


async def shoot(directory: Path, name: str) -> Path:
    if name in ACTIONS:
        app = action_app(name)
        async with app.run_test(size=SIZE) as pilot:
            await ACTIONS[name](pilot)
            return Path(app.save_screenshot(filename=f"{name}.svg", path=str(directory)))
    exchange_id, tab = VIEWS[name]
    app = view_app(name)
    async with app.run_test(size=SIZE) as pilot:
        await open_view(pilot, exchange_id, tab)
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(directory)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    names = [*VIEWS, *ACTIONS]
    parser.add_argument("names", nargs="*", help=f"some of: {', '.join(names)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.names) - set(names)
    if unknown:
        parser.error(f"unknown view: {', '.join(sorted(unknown))}")
    utc()
    args.out.mkdir(parents=True, exist_ok=True)
    converter = str(SVG2PNG) if SVG2PNG.exists() else shutil.which("svg2png")
    for name in args.names or names:
        svg = asyncio.run(shoot(args.out, name))
        if converter is not None:
            subprocess.run([converter, str(svg), str(svg.with_suffix(".png")), "2"], check=True)
        print(svg)


if __name__ == "__main__":
    main()
