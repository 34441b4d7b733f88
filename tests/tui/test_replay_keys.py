"""The replay keys as the app wires them, from the list and from the detail screen: `r`
replays (a ↻ row, selected), `R` says paced replay is for WebSocket and replays at once, `=`
opens Compare on a ↻ row (and says why not elsewhere), `e` opens the editor whose request
is sent once; the help lists the keys of #13. Against a raw server on 127.0.0.1."""

from __future__ import annotations

from tests.tui.pilot import SIZE, until
from tests.tui.test_actions import notified
from tests.tui.test_detail import text_of
from tests.tui.test_replay import RawServer
from tui.app import InspectorApp
from tui.scenarios import WEB2, session
from tui.screens.compare import CompareScreen
from tui.screens.detail import DetailScreen
from tui.screens.edit import EditScreen
from tui.screens.help import HelpScreen
from tui.widgets.cells import is_replay

ORIGINAL = f"{WEB2}-4"  # PUT /api/items/2 {"price": 17.5}


async def test_replay_keys_from_the_list_and_the_detail() -> None:
    upstream = RawServer()
    port = await upstream.start()
    app = InspectorApp(replay_base=f"http://127.0.0.1:{port}")
    app.feed([e for e in session() if e.exchange_id == ORIGINAL])
    try:
        async with app.run_test(size=SIZE) as pilot:
            rows = app.exchanges.list
            await until(pilot, lambda: len(rows.rows) == 1)
            await pilot.press("equals_sign")
            await until(pilot, lambda: bool(notified(app, "Compare")))
            assert "this row is not a replay" in notified(app, "Compare")[0]

            await pilot.press("r")
            await until(pilot, lambda: len(rows.rows) == 2 and rows.current is rows.rows[1])
            await until(pilot, lambda: rows.rows[1].finished is not None)
            assert is_replay(rows.rows[1])
            assert len(upstream.requests) == 1
            await pilot.press("equals_sign")  # on the new ↻ row, which has the cursor
            await until(pilot, lambda: isinstance(app.screen, CompareScreen))
            await pilot.press("escape")

            await pilot.press("home", "R")
            await until(pilot, lambda: len(rows.rows) == 3)
            assert any("paced replay is for WebSocket" in n for n in notified(app, "Replay"))

            await pilot.press("home", "e")
            await until(pilot, lambda: isinstance(app.screen, EditScreen))
            await pilot.pause()
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(rows.rows) == 4)
            await until(pilot, lambda: len(upstream.requests) == 3)
            assert not isinstance(app.screen, EditScreen)

            await pilot.press("home", "enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen))
            await pilot.press("r")
            await until(pilot, lambda: len(rows.rows) == 5)
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, EditScreen))
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen))
            await pilot.press("equals_sign")
            await until(pilot, lambda: len(notified(app, "Compare")) == 2)
            await until(pilot, lambda: len(upstream.requests) == 4)
    finally:
        upstream.close()


async def test_the_help_lists_the_action_keys() -> None:
    app = InspectorApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = " ".join(text_of(static) for static in app.screen.query("Static"))
        for said in (
            "inject a message into a live WebSocket",
            "intercept: hold matching traffic",
            "compare a ↻ replay with its original",
            "edit the request, then send it",
            "~from client|server",
        ):
            assert said in shown
