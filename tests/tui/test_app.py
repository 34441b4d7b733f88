"""The viewer's list: live feeding, coalescing, follow mode, filter, pause, clear, help, footer."""

from __future__ import annotations

import threading

import msgspec
import pytest
from rich.cells import cell_len
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

import tui.app
from inspector import events as ev
from inspector.observe.store import Store
from tests.tui.pilot import SIZE, hostile, until
from tui.app import InspectorApp
from tui.scenarios import PROXY, T0, WALL0, WEB1, WEB2, many, refused, scripted, session
from tui.screens.confirm import ConfirmScreen
from tui.screens.detail import DetailScreen
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.footer import Status, status_text


def status(app: InspectorApp) -> str:
    return str(app.exchanges.status_bar.render())


def started(xid: str, path: str = "/late", at: int = T0 + 10**10) -> ev.RequestStarted:
    return ev.RequestStarted(
        xid, at, "asgi", "http", "GET", "http", "1.1", path, None, b"",
        ((b"host", b"late.example"),), None, None, WALL0 + 10, {},
    )  # fmt: skip


async def test_static_session_fed_before_mount_is_listed_newest_last() -> None:
    app = InspectorApp(subtitle="static")
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 16)
        assert [x.id for x in rows.rows][:2] == [f"{WEB1}-1", "0f1e2d3c4b5a-1"]
        assert rows.cursor == 15
        assert rows.follow
        assert "16/16 shown" in status(app)


async def test_follow_stops_when_moving_up_and_resumes_on_end() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 16)
        await pilot.press("up", "k")
        assert rows.cursor == 13
        assert not rows.follow
        held = rows.current
        app.feed([started("late-1")])
        await until(pilot, lambda: len(rows.rows) == 17)
        assert rows.current is held, "a new exchange must not move the reader"
        await pilot.press("G")
        assert rows.cursor == 16
        assert rows.follow
        app.feed([started("late-2")])
        await until(pilot, lambda: len(rows.rows) == 18)
        assert rows.cursor == 17, "following: the cursor stays on the newest"
        await pilot.press("home")
        assert rows.cursor == 0
        assert not rows.follow
        await pilot.press("end")
        assert rows.cursor == 17
        assert rows.follow


async def test_feeding_from_a_thread_is_coalesced_into_few_folds() -> None:
    app = InspectorApp()
    folds: list[int] = []
    original = app._fold

    def counting(events: list[ev.Event]) -> None:
        folds.append(len(events))
        original(events)

    app._fold = counting  # type: ignore[method-assign, assignment]
    async with app.run_test(size=SIZE) as pilot:
        batches = list(many(2000, batch=10))

        def produce() -> None:
            for batch in batches:
                app.feed(batch)

        thread = threading.Thread(target=produce)
        thread.start()
        await until(pilot, lambda: len(app.store) == 2000)
        thread.join()
        assert sum(folds) == 8000
        assert len(folds) <= 10, f"200 feeds should fold in a few refreshes, got {len(folds)}"


async def test_filter_applies_and_escape_clears() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 16)
        await pilot.press("f")
        await pilot.press(*"~c 4xx | ~c 5xx", "enter")
        assert [x.status for x in rows.rows] == [404, 500]
        assert "2/16 shown" in status(app)
        assert "~c 4xx | ~c 5xx" in status(app)
        assert rows.has_focus, "enter gives the list back the keys"
        await pilot.press("f", "escape")
        assert len(rows.rows) == 16
        assert "filter" not in status(app)


async def test_bad_filter_shows_message_and_position_and_keeps_the_list() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 16)
        await pilot.press("f", *"~c 200 )", "enter")
        bar = app.exchanges.filter_bar
        error = bar.query_one(".error")
        assert error.has_class("-shown")
        shown = str(error.render())
        assert "unexpected ')'" in shown
        assert "~c 200 )" in shown
        assert len(rows.rows) == 16
        assert bar.has_class("-open")
        bar.query_one(Input).value = ""
        await pilot.press(*"~zz", "enter")
        assert "unknown filter" in str(error.render())
        await pilot.press("escape")
        assert not bar.has_class("-open")
        assert not error.has_class("-shown")


async def test_filter_is_re_evaluated_as_an_exchange_streams() -> None:
    app = InspectorApp()
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        app.exchanges.query_one(FilterBar).apply("~c 201")
        app.feed([started("s-1"), started("s-2", "/other")])
        await until(pilot, lambda: len(app.store) == 2)
        assert rows.rows == []
        app.feed([ev.ResponseStarted("s-2", T0 + 10**10 + 5, 201, (), False)])
        await until(pilot, lambda: len(rows.rows) == 1)
        assert rows.rows[0].id == "s-2"
        app.feed([ev.ResponseStarted("s-1", T0 + 10**10 + 9, 201, (), False)])
        await until(pilot, lambda: len(rows.rows) == 2)
        assert [x.id for x in rows.rows] == ["s-1", "s-2"], "arrival order is kept"


async def test_pause_holds_events_and_resume_folds_them() -> None:
    app = InspectorApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")
        assert app.paused
        assert "PAUSED" in status(app)
        events = session()
        app.feed(events)
        await until(pilot, lambda: len(app.held) == len(events))  # every one held
        assert len(app.store) == 0
        assert "events held" in status(app)
        await pilot.press("space")
        assert not app.paused
        assert len(app.store) == 16
        assert "LIVE" in status(app)


async def test_clear_asks_first_then_forgets_everything_and_new_events_still_arrive() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 16)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        assert "16 exchanges" in str(app.screen.query_one("#question", Static).render())
        await pilot.press("n")
        assert app.screen is app.exchanges
        assert len(app.store) == 16, "not cleared: the user said no"
        await pilot.press("c", "escape")
        assert len(app.store) == 16
        await pilot.press("c", "enter")  # the focus starts on No
        assert app.screen is app.exchanges
        assert len(app.store) == 16
        await pilot.press("c", "y")
        assert app.screen is app.exchanges
        assert len(app.store) == 0
        assert rows.rows == []
        assert "0/0 shown" in status(app)
        app.feed([started("after-clear")])
        await until(pilot, lambda: len(rows.rows) == 1)


async def test_footer_shows_workers_dropped_and_evicted() -> None:
    app = InspectorApp(Store(max_exchanges=5), peers=lambda: 3)
    app.feed([*session(), ev.EventsDropped("", T0, 7, 7, "bus")])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 5)
        text = status(app)
        assert "workers 3" in text
        assert "5/5 shown" in text
        assert "dropped 7" in text
        assert "evicted 11" in text


async def test_footer_counts_capture_errors_in_yellow_once_there_are_any() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        assert "capture error" not in status(app)
        app.feed([ev.CaptureFailed(f"{WEB1}-1", T0, "send", "boom")])
        await until(pilot, lambda: "1 capture error" in status(app))
        app.feed([ev.CaptureFailed("", T0, "observer", "an unreadable record")] * 2)
        await until(pilot, lambda: "3 capture errors" in status(app))
    quiet = Status(False, 0, 0, 0, 0, 0, 0, 0, None, "", True, capture_errors=3)
    text = status_text(quiet)
    start = text.plain.index("3 capture errors")
    assert [s.style for s in text.spans if s.start <= start < s.end] == ["yellow"]


async def test_help_opens_and_closes_and_q_quits() -> None:
    app = InspectorApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        frame = app.screen.query_one(VerticalScroll)
        assert frame.border_subtitle == "escape, q or ? closes this help"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)


async def test_command_palette_runs_our_commands() -> None:
    app = InspectorApp()
    async with app.run_test(size=SIZE) as pilot:
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Filter exchanges", "Pause or resume", "Export", "Clear"} <= titles
        await pilot.press("ctrl+p")
        await pilot.press(*"Pause or resume")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: app.paused)


async def test_a_narrow_terminal_drops_columns_before_the_path() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=(80, 24)) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 16)
        header = str(rows.render_header(80))
        assert header.split() == ["Source", "Method", "Path", "Code", "Duration", "Resp"]
        line = str(rows.render_row(rows.rows[0], 0, 80))
        assert "/api/items?page=2 " in line  # whole, not cut to a few cells
        assert len(line) <= 80
        wide = str(rows.render_header(120)).split()
        assert wide[:3] == ["Time", "Source", "Method"]
        assert wide[-3:] == ["Req", "Resp", "Info"]


async def test_list_rows_escape_controls_and_line_up_wide_characters() -> None:
    app = InspectorApp()
    app.feed(hostile())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 6)
        width = SIZE[0] - 2
        lines = {row.id: rows.render_row(row, i, width).plain for i, row in enumerate(rows.rows)}
        assert "/a[/x]\\x1b[2J" in lines["bad-1"]
        assert "\x1b" not in "".join(lines.values())
        header = rows.render_header(width).plain
        code_ends = cell_len(header[: header.index("Code") + 4])
        for xid in ("bad-3", "bad-4"):  # CJK path, ASCII path: the same columns
            line = lines[xid]
            assert cell_len(line) == width, xid
            assert cell_len(line[: line.index(" 200 ") + 4]) == code_ends, xid
        assert "/漢字漢字" in lines["bad-3"]
        assert "…" in lines["bad-3"]


async def test_resume_folds_what_was_held_in_slices_and_keeps_the_discarded_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tui.app, "FLUSH_BATCH", 10)
    monkeypatch.setattr(tui.app, "MAX_HELD", 50)
    app = InspectorApp()
    folds: list[int] = []
    original = app._fold

    def counting(events: list[ev.Event]) -> None:
        folds.append(len(events))
        original(events)

    app._fold = counting  # type: ignore[method-assign, assignment]
    events = session()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")
        app.feed(events)
        await until(pilot, lambda: len(app.held) + app.discarded == len(events))
        assert len(app.held) == 50
        await pilot.press("space")
        app.feed([started("after-resume")])  # behind what was held
        await until(pilot, lambda: app.store.events_seen == 51)
        assert max(folds) <= 10, f"resume must fold in slices, got {folds}"
        assert list(app.store)[-1].id == "after-resume"
        text = status(app)
        assert "LIVE" in text
        assert f"{len(events) - 50:,} discarded while paused" in text


async def test_palette_offers_list_commands_only_on_the_list() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        titles = {command.title for command in app.get_system_commands(detail)}
        assert "Pause or resume" in titles
        assert not {"Filter exchanges", "Export", "Clear", "Follow"} & titles
        await pilot.press("ctrl+p", *"Export")
        await pilot.pause(0.3)
        await pilot.press("enter", "escape")
        await until(pilot, lambda: app.screen is detail)
        assert not any(isinstance(screen, ExportScreen) for screen in app.screen_stack)
        assert len(app.store) == 16


class _ForgettingStore(Store):
    def __init__(self) -> None:
        super().__init__()
        self.forgotten = 4


async def test_footer_shows_late_events_the_store_forgot() -> None:
    app = InspectorApp(_ForgettingStore())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.update_status()
        assert "forgotten 4" in status(app)


def _request(xid: str, start_ms: float, path: str = "/late") -> list[ev.Event]:
    return scripted(xid, start_ms).request("GET", path).events


async def test_rows_are_listed_by_start_time_and_a_late_one_does_not_move_the_reader() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 16)
        await pilot.press("home", "down", "down")
        held = rows.current
        assert held is not None
        assert held.id == f"{PROXY}-1"
        # Another worker's request, started at 50 ms (before the row under the cursor),
        # arrives only now.
        app.feed(_request("late-1", 50))
        await until(pilot, lambda: len(rows.rows) == 17)
        assert [x.id for x in rows.rows][:4] == [f"{WEB1}-1", f"{WEB2}-1", "late-1", f"{PROXY}-1"]
        assert rows.current is held, "an insert above the cursor must not move the selection"
        assert not rows.follow
        await pilot.press("end")
        newest = rows.current
        app.feed(_request("late-2", 60))
        await until(pilot, lambda: len(rows.rows) == 18)
        assert [x.id for x in rows.rows][3] == "late-2"
        assert rows.current is newest, "following stays on the newest request"
        assert rows.follow
        app.feed(_request("newest", 5000))
        await until(pilot, lambda: len(rows.rows) == 19)
        assert rows.current is not None
        assert rows.current.id == "newest"


async def test_an_insert_above_the_view_keeps_the_rows_on_screen_still() -> None:
    app = InspectorApp()
    for batch in many(200, batch=200):
        app.feed(batch)
    async with app.run_test(size=(120, 16)) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 200)
        rows.move_cursor(100)
        await pilot.pause()
        line = rows.cursor - int(rows.scroll_y)
        early = [e for e in _request("early", 0) if isinstance(e, ev.RequestStarted)]
        app.feed([msgspec.structs.replace(early[0], wall_time=WALL0 + 0.0005)])  # after load-0
        await until(pilot, lambda: len(rows.rows) == 201)
        assert rows.rows[1].id == "early"
        assert rows.current is not None
        assert rows.current.id == "load-100"
        assert rows.cursor - int(rows.scroll_y) == line, "the cursor's row stays where it was"


async def test_an_evicted_row_leaves_wherever_its_start_time_put_it() -> None:
    app = InspectorApp(Store(max_exchanges=3))
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        app.feed(_request("a", 10) + _request("b", 20))
        await until(pilot, lambda: len(rows.rows) == 2)
        app.feed(_request("c", 5))  # arrives last, started first
        await until(pilot, lambda: len(rows.rows) == 3)
        assert [x.id for x in rows.rows] == ["c", "a", "b"]
        app.feed(_request("d", 30))  # the store evicts "a", the first to arrive
        await until(pilot, lambda: app.store.evicted == 1)
        await pilot.pause()
        assert [x.id for x in rows.rows] == ["c", "b", "d"]


def footer_shown(app: InspectorApp) -> list[str]:
    """The footer's keys a reader can see whole: within the screen, not under the palette's."""
    keys = list(app.screen.query("FooterKey"))  # Textual's own widget, not exported
    palette = [k for k in keys if getattr(k, "action", "") == "app.command_palette"]
    right = min([app.size.width, *(k.region.x for k in palette)])
    return [
        getattr(k, "description", "") for k in keys if k not in palette and k.region.right <= right
    ]


@pytest.mark.parametrize("width", [80, 160])
async def test_the_footer_shows_every_list_key_help_and_quit_first(width: int) -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=(width, 24)) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.pause()
        shown = footer_shown(app)
        assert shown[:2] == ["Help", "Quit"]
        assert {"Filter", "Mark", "Export", "Replay", "Copy curl", "Clear", "Pause"} <= set(shown)
        await pilot.press("enter")
        await pilot.pause()
        assert footer_shown(app)[:2] == ["Back", "Help"]


@pytest.mark.parametrize("width", [120, 160])
async def test_path_and_info_share_the_width_by_what_they_hold(width: int) -> None:
    app = InspectorApp()
    app.feed(session() + refused())
    async with app.run_test(size=(width, 30)) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 17)
        await pilot.pause()
        inner = rows.scrollable_content_region.width
        line = rows.render_row(rows.rows[-1], 16, inner).plain
        assert line.rstrip().endswith("ConnectionRefusedError"), "the error is shown whole"
        header = rows.render_header(inner).plain
        path = header.index("Path")
        assert header[path:].split()[:2] == ["Path", "Code"]
        assert "/download/firmware.bin " in rows.render_row(rows.rows[11], 11, inner).plain
