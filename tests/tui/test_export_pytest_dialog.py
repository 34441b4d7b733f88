"""The viewer's export dialog writes tests from traffic too: a pytest module against a base
URL, named so pytest collects it, laid out as `ruff format` leaves it, secrets left out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.tui.pilot import SIZE, until
from tui.app import InspectorApp
from tui.scenarios import session
from tui.screens.export import ExportScreen


@pytest.fixture(autouse=True)
def private_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


async def test_the_dialog_writes_a_pytest_module_of_the_shown_exchanges(tmp_path: Path) -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.press("f", *"~m POST", "enter")
        await pilot.press("x")
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        await pilot.click("#pytest", offset=(2, 0))
        default = Path(dialog.query_one("#path", Input).value)
        assert default.name.startswith("test_captured_")
        assert default.suffix == ".py"
        out = tmp_path / "test_posts.py"
        dialog.query_one("#path", Input).value = str(out)
        await pilot.click("#export")
        await until(pilot, lambda: out.exists() and out.read_text().endswith("\n"))
    text = out.read_text()
    assert text.count("\ndef test_post_") == 2
    assert 'BASE_URL = os.environ.get("INSPECTOR_BASE_URL", ' in text
    assert "s3cr3t" not in text
    ruff = Path(sys.executable).parent / "ruff"
    check = subprocess.run([ruff, "format", "--check", "--diff", str(out)], capture_output=True)
    assert check.returncode == 0, check.stdout.decode()
    compile(text, str(out), "exec")


async def test_under_listen_app_the_dialogs_tests_go_through_that_app(tmp_path: Path) -> None:
    from inspector.observe.apps import load_app

    app = InspectorApp(replay_app=load_app("tests.apps.traffic_asgi:app"))
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.press("f", *"~m POST", "enter")
        await pilot.press("x")
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        await pilot.click("#pytest", offset=(2, 0))
        out = tmp_path / "test_in_process.py"
        dialog.query_one("#path", Input).value = str(out)
        await pilot.click("#export")
        await until(pilot, lambda: out.exists() and out.read_text().endswith("\n"))
    text = out.read_text()
    assert "ASGITransport" in text
    assert "tests.apps.traffic_asgi" in text
    assert "INSPECTOR_BASE_URL" not in text
