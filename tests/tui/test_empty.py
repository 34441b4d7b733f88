"""Empty states: a viewer with nothing to list says why and what to do, a worker shows as
connected before its first request, and a saved session is not shown as live traffic."""

from __future__ import annotations

from pathlib import Path

from inspector import wire
from inspector.observe.collector import Collector
from inspector.sink import Sink
from tests.tui.pilot import SIZE, until
from tui.app import InspectorApp
from tui.scenarios import session


def shown(app: InspectorApp) -> str:
    """The exchange list as drawn, one line per row of the screen."""
    rows = app.exchanges.list
    return "\n".join(rows.render_line(y).text for y in range(rows.size.height))


def status(app: InspectorApp) -> str:
    return str(app.exchanges.status_bar.render())


def footer(app: InspectorApp) -> set[str]:
    return {getattr(key, "description", "") for key in app.screen.query("FooterKey")}


async def test_listen_with_nothing_connected_says_where_and_how_to_connect() -> None:
    address = "unix:/run/user/1000/inspector.sock"
    app = InspectorApp(subtitle=f"listening on {address}", peers=lambda: 0, listening=address)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = shown(app)
        assert "No exchanges yet" in text
        assert "ASGIInspectorMiddleware" in text
        assert f"INSPECTOR_BUS={address}" in text
        assert "No app is connected" in text
        assert "workers 0" in status(app), "the status bar is there from the start"


async def test_a_worker_shows_as_connected_as_soon_as_its_sink_connects(tmp_path: Path) -> None:
    address = wire.Address("unix", path=str(tmp_path / "bus.sock"))
    collector: Collector | None = None
    app = InspectorApp(
        peers=lambda: 0 if collector is None else len(collector.peers), listening=str(address)
    )
    collector = Collector(address, app.feed)
    async with app.run_test(size=SIZE) as pilot:
        await collector.start()
        sink = Sink(address, name="worker")  # connects at once; records nothing
        try:
            await until(pilot, lambda: "workers 1" in status(app))
            await until(pilot, lambda: "worker[" in shown(app))
            assert "waiting for a first request" in shown(app)
            assert len(app.store) == 0
        finally:
            sink.close()
            await collector.close()
        await until(pilot, lambda: "No app is connected" in shown(app))


async def test_a_saved_session_is_not_shown_as_live_and_has_nothing_to_pause() -> None:
    app = InspectorApp(subtitle="s.jsonl", saved=True)
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.pause()
        text = status(app)
        assert "SAVED" in text
        assert "LIVE" not in text
        assert "following" not in text
        assert "Pause" not in footer(app)
        await pilot.press("space")
        assert not app.paused
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert "Pause or resume" not in titles


async def test_an_empty_saved_session_says_so() -> None:
    app = InspectorApp(subtitle="empty.jsonl", saved=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "This saved session holds no exchanges" in shown(app)
        assert "INSPECTOR_BUS" not in shown(app)


async def test_a_filter_that_matches_nothing_says_so() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.press("f", *"~m PATCH", "enter")
        await pilot.pause()
        assert "No exchange of the 16 matches ~m PATCH" in shown(app)
