"""The export dialog: which capture point's records (proxy, app, both), masked by default,
into a private directory of the user's data directory, never through a symbolic link."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, RadioButton, RadioSet, Static

from tests.tui.pilot import SIZE, until
from tui.app import InspectorApp
from tui.scenarios import PROXY, WEB1, session
from tui.screens.export import ExportScreen


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "data"


async def dialog(pilot: Pilot[None], count: int = 16) -> ExportScreen:
    app = pilot.app
    assert isinstance(app, InspectorApp)
    await until(pilot, lambda: len(app.exchanges.list.rows) == count)
    await pilot.press("x")
    screen = app.screen
    assert isinstance(screen, ExportScreen)
    await pilot.pause()  # laid out: clicks land on the buttons
    return screen


async def choose(pilot: Pilot[None], screen: ExportScreen, button: str) -> None:
    """As a click would (two clicks in a row would be taken for a double click)."""
    screen.query_one(f"#{button}", RadioButton).value = True
    await pilot.pause()


def exported(app: InspectorApp) -> list[str]:
    return [n.message for n in app._notifications if n.title == "Exported"]


def entries(path: Path) -> list[str]:
    return [e["_inspector"]["id"] for e in json.loads(path.read_text())["log"]["entries"]]


async def test_by_default_masked_into_a_private_directory_named_in_full(
    tmp_path: Path, data_home: Path
) -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        screen = await dialog(pilot)
        assert screen.query_one("#redact", Checkbox).value, "secrets masked unless unticked"
        path = Path(screen.query_one("#path", Input).value)
        assert path.parent == data_home / "inspector" / "exports"
        assert path.name.startswith("inspector-")
        assert path.suffix == ".har"
        await choose(pilot, screen, "curl")
        assert Path(screen.query_one("#path", Input).value) == path.with_suffix(".sh")
        await choose(pilot, screen, "both")
        await pilot.click("#export")
        await until(pilot, lambda: bool(exported(app)))
        written = path.with_suffix(".sh")
        assert str(written) in exported(app)[0]
        assert "s3cr3t" not in written.read_text()
        assert "/api/orders" in written.read_text()
        assert stat.S_IMODE(os.stat(written.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(data_home / "inspector").st_mode) == 0o700
        assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
        assert os.listdir(tmp_path / "cwd") == [], "nothing left in the working directory"


async def test_proxy_and_app_records_the_proxy_s_by_default(tmp_path: Path) -> None:
    """Both capture points see each request (`inspector demo`): the proxy's records, unless
    the app's or both are chosen."""
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        for choice, expected in ((None, 3), ("app", 13), ("both", 16)):
            screen = await dialog(pilot)
            assert "16 shown exchanges" in str(screen.query_one("#title", Static).render())
            sources = screen.query_one("#source", RadioSet)
            assert sources.pressed_button is not None
            assert sources.pressed_button.id == "proxy"
            if choice is not None:
                await choose(pilot, screen, choice)
            target = tmp_path / f"{choice or 'default'}.har"
            screen.query_one("#path", Input).value = str(target)
            await pilot.click("#export")
            await until(pilot, lambda: bool(exported(app)))  # said once written
            ids = entries(target)
            assert len(ids) == expected, choice
            app._notifications.clear()
        assert all(x.startswith(PROXY) for x in entries(tmp_path / "default.har"))
        assert not any(x.startswith(PROXY) for x in entries(tmp_path / "app.har"))


async def test_records_of_one_capture_point_need_no_choice(tmp_path: Path) -> None:
    app = InspectorApp()
    app.feed([e for e in session() if e.exchange_id.startswith(WEB1) or not e.exchange_id])
    async with app.run_test(size=SIZE) as pilot:
        screen = await dialog(pilot, count=7)
        assert not screen.query("#source")
        target = tmp_path / "app.har"
        screen.query_one("#path", Input).value = str(target)
        await pilot.click("#export")
        await until(pilot, lambda: bool(exported(app)))
        assert len(entries(target)) == 7


async def test_a_symbolic_link_is_refused_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "link.har"
    link.symlink_to(victim)
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        screen = await dialog(pilot)
        screen.query_one("#path", Input).value = str(link)
        screen.query_one("#path", Input).focus()
        await pilot.press("enter")  # it exists: asks first
        await pilot.press("enter")
        error = str(screen.query_one(".error", Static).render())
        assert "symbolic link" in error
        assert str(link) in error
        assert app.screen is screen
        assert victim.read_text() == "keep me"
        assert link.is_symlink()
