"""`python -m tui.screenshots`: drive the viewer with Pilot over the scenarios and save pictures.

Writes `screenshots/<name>.svg` and `.png` (through `/work/shared/tools/svg2png`, when it is
there) for the list, a JSON response, the timing waterfall, the event timeline, a WebSocket
conversation and the Diff of a request paired across the proxy and the app. The snapshot
tests open the same views with `open_view`, so what the README shows is what the tests pin.
Clocks are shown in UTC so every run draws the same pictures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from inspector.events import Event
from tui.app import InspectorApp
from tui.scenarios import PROXY, WEB1, WEB2, paired, session
from tui.screens.detail import DetailScreen

SIZE = (120, 36)
SVG2PNG = Path("/work/shared/tools/svg2png")
VIEWS: dict[str, tuple[str | None, str]] = {
    "list": (None, ""),
    "detail-response": (f"{WEB1}-1", "response"),
    "detail-request": (f"{WEB1}-2", "request"),
    "timing": (f"{WEB2}-3", "timing"),
    "events": (f"{WEB2}-3", "events"),
    "websocket": (f"{PROXY}-3", "messages"),
    "diff": (f"{PROXY}-5", "diff"),
}
MORE: dict[str, Callable[[], list[Event]]] = {"diff": paired}
"""Events a view adds after the session (so the other views stay as they were)."""
_TAB_KEYS = {
    "request": "1",
    "response": "2",
    "timing": "3",
    "events": "4",
    "messages": "5",
    "diff": "6",
}


def utc() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()


def scenario_app(*more: list[Event]) -> InspectorApp:
    """The viewer over the scenario's session, and `more` events after it."""
    app = InspectorApp(title="inspector", subtitle="scenario: session", peers=lambda: 3)
    app.feed(session())
    for events in more:
        app.feed(events)
    return app


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


async def shoot(directory: Path, name: str) -> Path:
    exchange_id, tab = VIEWS[name]
    app = scenario_app(*([MORE[name]()] if name in MORE else []))
    async with app.run_test(size=SIZE) as pilot:
        await open_view(pilot, exchange_id, tab)
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(directory)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("names", nargs="*", help=f"some of: {', '.join(VIEWS)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.names) - VIEWS.keys()
    if unknown:
        parser.error(f"unknown view: {', '.join(sorted(unknown))}")
    utc()
    args.out.mkdir(parents=True, exist_ok=True)
    converter = str(SVG2PNG) if SVG2PNG.exists() else shutil.which("svg2png")
    for name in args.names or VIEWS:
        svg = asyncio.run(shoot(args.out, name))
        if converter is not None:
            subprocess.run([converter, str(svg), str(svg.with_suffix(".png")), "2"], check=True)
        print(svg)


if __name__ == "__main__":
    main()
