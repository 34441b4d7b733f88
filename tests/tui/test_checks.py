"""The spec checks in the viewer: the list's badge, the `~check` filter and the Checks tab."""

from __future__ import annotations

from textual.widgets import Static, TabbedContent

from tests.tui.pilot import SIZE, until
from tests.tui.test_detail import opened, text_of
from tui.app import InspectorApp
from tui.scenarios import WEB1, WEB2, mistakes, session
from tui.widgets.checks import ChecksPane
from tui.widgets.exchange_list import _info


def app_with_mistakes() -> InspectorApp:
    app = InspectorApp()
    app.feed(session())
    app.feed(mistakes())
    return app


async def test_filter_keeps_exchanges_with_findings_and_the_badge_counts_them() -> None:
    app = app_with_mistakes()
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 17)
        await pilot.press("f", *"~check", "enter")
        assert [x.id for x in rows.rows] == [f"{WEB2}-7"]
        assert _info(rows.rows[0]) == ("⚠4", "yellow")
        await pilot.press("f", "escape", "f", *"~check wsgi.hop-by-hop | ~check ws", "enter")
        assert [x.id for x in rows.rows] == [f"{WEB2}-7"]
        await pilot.press("f", "escape", "f", *"!~check", "enter")
        assert len(rows.rows) == 16
        assert all(not _info(x)[0].startswith("⚠") for x in rows.rows)


async def test_checks_tab_explains_each_finding_with_its_reference() -> None:
    app = app_with_mistakes()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, f"{WEB2}-7", "checks")
        assert screen.query_one(TabbedContent).active == "checks"
        shown = text_of(screen.query_one(ChecksPane).query_one(Static))
        assert "4 findings" in shown
        for line in (
            "wsgi.status-format  PEP 3333, The start_response() Callable",
            "seen: status '200'",
            "wsgi.hop-by-hop  PEP 3333, Other HTTP Features",
            "http.content-length-mismatch  RFC 9110 §8.6",
            "seen: Content-Length 120, 69 bytes sent",
            "http.content-type-missing  RFC 9110 §8.3",
        ):
            assert line in shown


async def test_checks_tab_of_correct_traffic_says_so() -> None:
    app = app_with_mistakes()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, f"{WEB1}-1", "response")
        await pilot.press("6")
        assert screen.query_one(TabbedContent).active == "checks"
        shown = text_of(screen.query_one(ChecksPane).query_one(Static))
        assert shown.startswith("No findings: 53 rules checked this exchange.")
