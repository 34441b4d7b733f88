"""The detail screen: tabs by key, bodies by type, the event timeline, live updates, WebSocket
messages with their own filter."""

from __future__ import annotations

import io

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent

from inspector import events as ev
from tests.tui.pilot import SIZE, until
from tui.app import InspectorApp
from tui.scenarios import PROXY, T0, WEB1, WEB2, session
from tui.screens.detail import DetailScreen
from tui.screenshots import open_view
from tui.widgets.detail import RequestPane, ResponsePane
from tui.widgets.messages import MessageList, MessagesPane
from tui.widgets.timeline import EventList
from tui.widgets.timing import TimingPane


def text_of(widget: Static) -> str:
    """What the widget shows, as plain text (rich renderables rendered at the pane's width)."""
    console = Console(width=116, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def body(screen: DetailScreen, pane: type[RequestPane | ResponsePane]) -> str:
    return text_of(screen.query_one(pane).query_one(".body", Static))


async def opened(pilot: Pilot[None], xid: str, tab: str) -> DetailScreen:
    await open_view(pilot, xid, tab)
    screen = pilot.app.screen
    assert isinstance(screen, DetailScreen)
    assert screen.exchange.id == xid
    return screen


async def test_enter_opens_the_detail_and_number_keys_switch_tabs() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.press("home", "enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert screen.exchange.id == f"{WEB1}-1"
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "response"
        assert '"kettle"' in body(screen, ResponsePane), "JSON is pretty-printed"
        for key, tab in (("1", "request"), ("3", "timing"), ("4", "events"), ("2", "response")):
            await pilot.press(key)
            assert tabs.active == tab
        await pilot.press("5")
        assert tabs.active == "response", "no Messages tab for plain HTTP"
        await pilot.press("escape")
        assert app.screen is app.exchanges


async def test_request_shows_form_fields_and_headers() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, f"{WEB1}-2", "request")
        pane = screen.query_one(RequestPane)
        assert "POST http://shop.example:8000/login" in text_of(pane.query_one(".summary", Static))
        assert "content-type" in text_of(pane.query_one(".headers", Static))
        shown = body(screen, RequestPane)
        assert "form" in shown
        assert "password" in shown
        assert "hunter2" in shown


async def test_response_bodies_by_type() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, f"{WEB2}-3", "response")
        shown = body(screen, ResponsePane)
        assert "decoded from gzip" in shown
        assert '"rows"' in shown
        await pilot.press("escape")
        screen = await opened(pilot, f"{PROXY}-1", "response")
        assert "PNG" in body(screen, ResponsePane)
        assert "64x48 px" in body(screen, ResponsePane)
        await pilot.press("escape")
        screen = await opened(pilot, f"{WEB2}-5", "response")
        assert "00000000  00 01 02 03" in body(screen, ResponsePane), "binary as a hex dump"
        await pilot.press("escape")
        screen = await opened(pilot, f"{WEB1}-4", "response")
        summary = text_of(screen.query_one(ResponsePane).query_one(".summary", Static))
        assert "RuntimeError: the demo app failed on purpose" in summary
        assert "Traceback" in summary


async def test_events_tab_lists_every_event_with_relative_times() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, f"{WEB2}-3", "events")
        events = screen.query_one(EventList)
        assert events.rows == screen.exchange.events
        assert len(events.rows) == 6
        assert events.has_focus
        last = events.render_row(events.rows[-1], len(events.rows) - 1, 118).plain
        assert "62.500 ms" in last
        assert "ExchangeFinished" in last
        assert "+0.500 ms" in last
        await pilot.press("down")
        assert events.cursor == 1


async def test_detail_updates_live_while_the_exchange_streams() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        xid = f"{WEB2}-6"
        screen = await opened(pilot, xid, "response")
        assert "still arriving" in body(screen, ResponsePane)
        await pilot.press("3")
        timing = screen.query_one(TimingPane).query_one(Static)
        await until(pilot, lambda: "still in progress" in text_of(timing))
        await pilot.press("2")
        count = len(screen.query_one(EventList).rows)
        at = T0 + 3_000_000_000
        app.feed(
            [
                ev.ResponseBodyChunk(xid, at, b'event: tick\ndata: {"n": 99}\n\n', 29, False),
                ev.ExchangeFinished(xid, at + 1000, "completed", 100_000, 5_000_000, 900_000_000),
            ]
        )
        await until(pilot, lambda: '"n": 99' in body(screen, ResponsePane))
        assert "still arriving" not in body(screen, ResponsePane)
        assert len(screen.query_one(EventList).rows) == count + 2
        assert "completed" in text_of(screen.query_one("#detail-title", Static))


async def test_websocket_messages_filter_expand_and_live_updates() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        xid = f"{PROXY}-3"
        screen = await opened(pilot, xid, "messages")
        pane = screen.query_one(MessagesPane)
        messages = pane.query_one(MessageList)
        assert len(messages.rows) == 11
        assert messages.cursor == 1
        state = text_of(pane.query_one(".state", Static))
        assert "closed by client: code 1000 'bye'" in state
        assert "5 → app · 6 ← app" in state
        expanded = text_of(pane.query_one(".expanded", Static))
        assert '"members": [\n' in expanded, "JSON messages are pretty-printed when open"
        held = messages.current
        app.feed([ev.WebSocketMessage(xid, T0 + 5 * 10**9, "server", "late news", None, 9)])
        await until(pilot, lambda: len(messages.rows) == 12)
        assert messages.current is held, "new messages do not move the reader"
        await pilot.press("end")
        assert "late news" in text_of(pane.query_one(".expanded", Static))
        pane.query_one(Input).focus()
        await pilot.press(*"teapot")
        assert [m.sender for m in messages.rows] == ["client", "server"]
        pane.query_one(Input).value = "> ."
        await pilot.pause()
        assert {m.sender for m in messages.rows} == {"client"}
        assert len(messages.rows) == 5
        pane.query_one(Input).value = "(unclosed"
        await pilot.pause()
        error = pane.query_one(".error", Static)
        assert error.has_class("-shown")
        assert "missing )" in text_of(error)
