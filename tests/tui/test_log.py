"""The server log (`inspector run`: the command's output goes to a file): `L` shows its last
lines and follows the file while open; without a log there is no such key. Ctrl-C quits."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Log

from tests.tui.pilot import ESC, SIZE, until
from tui.app import InspectorApp
from tui.screens.log import LINES, LogScreen


async def test_l_shows_the_log_s_last_lines_and_follows_it(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_text("".join(f"line {n}\n" for n in range(500)))
    app = InspectorApp(log_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        log = screen.query_one(Log)
        await until(pilot, lambda: len(log.lines) == LINES)
        assert log.lines[0] == f"line {500 - LINES}"
        assert log.lines[-1] == "line 499"
        await until(pilot, lambda: log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y)
        assert str(path) in str(screen.query_one("#where").render())
        with path.open("a") as file:
            file.write(f"line 500\n{ESC}line 501\npartial")
        await until(pilot, lambda: log.lines[-1] == "\\x1b[2J\\x1b[41mline 501")
        assert len(log.lines) == LINES
        with path.open("a") as file:
            file.write(" line\n")
        await until(pilot, lambda: log.lines[-1] == "partial line")
        await pilot.press("escape")
        assert app.screen is app.exchanges
        assert app.is_running


async def test_a_long_log_is_read_from_its_end_without_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_text("".join(f"{n:04} " + "x" * 995 + "\n" for n in range(1000)))  # ~1 MB
    app = InspectorApp(log_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        log = screen.query_one(Log)
        await until(pilot, lambda: len(log.lines) == LINES)
        assert log.lines[-1].startswith("0999 ")
        assert all(len(line) == 1000 for line in log.lines)


async def test_a_log_that_is_not_there_yet_is_said_and_then_shown(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    app = InspectorApp(log_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        assert "No such file" in str(screen.query_one("#where").render())
        path.write_text("started\n")
        log = screen.query_one(Log)
        await until(pilot, lambda: log.lines == ["started"])


async def test_without_a_log_there_is_no_server_log_key() -> None:
    app = InspectorApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        assert app.screen is app.exchanges
        assert app.check_action("server_log", ()) is False
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert "Server log" not in titles


async def test_ctrl_c_quits_even_from_the_filter_bar() -> None:
    app = InspectorApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        assert isinstance(app.focused, Input)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running)
