"""The detail screen: tabs by key, bodies by type, the event timeline, live updates, WebSocket
messages with their own filter."""

from __future__ import annotations

import io
import re

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent

from inspector import events as ev
from inspector.observe.store import Store
from tests.tui.pilot import SIZE, hostile, until
from tui.app import InspectorApp
from tui.scenarios import PROXY, T0, WEB1, WEB2, many, scripted, session
from tui.screens.detail import DetailScreen
from tui.screenshots import open_view
from tui.widgets.detail import RequestPane, ResponsePane
from tui.widgets.messages import MessageList, MessagesPane
from tui.widgets.timeline import EventList
from tui.widgets.timing import TimingPane
from tui.widgets.virtual_list import VirtualList


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
        pane.query_one(Input).value = "~from client"
        await pilot.pause()
        assert {m.sender for m in messages.rows} == {"client"}
        assert len(messages.rows) == 5
        pane.query_one(Input).value = "(unclosed"
        await pilot.pause()
        error = pane.query_one(".error", Static)
        assert error.has_class("-shown")
        assert "unclosed parenthesis" in text_of(error)


def everything_shown(screen: DetailScreen) -> str:
    """Every Static on the screen and every row of its lists, as plain text."""
    parts = [text_of(static) for static in screen.query(Static)]
    for rows in screen.query(VirtualList):
        parts += [rows.render_row(row, i, 116).plain for i, row in enumerate(rows.rows)]
        parts.append(rows.render_header(116).plain)
    return "\n".join(parts)


def assert_safe(shown: str) -> None:
    assert "\x1b" not in shown
    assert "\x9b" not in shown


async def test_markup_and_escapes_in_captured_data_are_shown_literally() -> None:
    app = InspectorApp()
    app.feed(hostile())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 6)
        for xid, tab, expected in (
            (
                "bad-1",
                "request",
                [
                    "/a[/x]\\x1b[2J",  # the title, the request line and the scope
                    "a=[/x]&e=\\x1b[2J",
                    "x-markup [/x]",
                    "x-esc \\x1b[2J\\x1b[41m\\x9b2J",
                    "OK\\x1b[2J",  # the reason
                    "\\x1b[2J\\x1b[41mINJECTED [/x]\nline3",  # the body keeps its lines
                    "GET /a[/x]\\x1b[2J\\x1b[41m?a=[/x]",  # the events timeline
                ],
            ),
            (
                "bad-2",
                "response",
                ["b \\x1b[2J\\x1b[41m", "a [/x]", "bad [/x]\\x1b[2J", "tb \\x1b"],
            ),
            ("bad-6", "messages", ["hi [/x]\\x1b[2J", "subprotocol chat\\x1b[2J"]),
        ):
            screen = await opened(pilot, xid, tab)  # every tab is composed: all are read
            shown = re.sub(" +", " ", everything_shown(screen))
            assert_safe(shown)
            for text in expected:
                assert text in shown, (xid, text)
            await pilot.press("escape")
        assert app.is_running


async def test_bomb_and_odd_charset_bodies_show_what_they_can() -> None:
    app = InspectorApp()
    app.feed(hostile())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "bad-4", "response")
        assert "decoded from gzip (cut at 4.0 MiB)" in body(screen, ResponsePane)
        await pilot.press("escape")
        screen = await opened(pilot, "bad-5", "response")
        assert "a\ufffd" in body(screen, ResponsePane)


async def test_a_bad_message_filter_shows_its_error_literally() -> None:
    app = InspectorApp()
    app.feed(hostile())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "bad-6", "messages")
        pane = screen.query_one(MessagesPane)
        pane.query_one(Input).value = '~b "(?P<[/x]>a)"'
        error = pane.query_one(".error", Static)
        await until(pilot, lambda: error.has_class("-shown"))
        assert "bad character in group name '[/x]'" in text_of(error)
        assert app.is_running


async def test_a_detail_of_an_evicted_exchange_says_so_and_stops_updating() -> None:
    app = InspectorApp(Store(max_exchanges=3))
    app.feed(next(many(3)))
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "load-0", "response")
        shown = screen.exchange
        refreshed: list[str] = []
        original = screen.show
        screen.show = lambda exchange: (refreshed.append(exchange.id), original(exchange))[-1]  # type: ignore[method-assign]
        app.feed(next(many(3, prefix="new")))
        await until(pilot, lambda: screen.forgotten)
        title = text_of(screen.query_one("#detail-title", Static))
        assert "evicted: no longer updated" in title
        app.feed([ev.ResponseBodyChunk("load-0", T0 + 10**9, b"late", 4, False)])
        await until(pilot, lambda: app.store.events_seen == 25)
        await pilot.pause()
        assert screen.exchange is shown
        assert refreshed == []
        assert "evicted: no longer updated" in text_of(screen.query_one("#detail-title", Static))


async def test_a_detail_open_when_the_list_is_cleared_says_so() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, f"{WEB2}-6", "response")
        app.clear()
        assert screen.forgotten
        assert "evicted" in text_of(screen.query_one("#detail-title", Static))


async def test_enter_on_a_websocket_opens_its_messages_following_the_newest() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 16)
        xid = f"{PROXY}-3"
        rows.move_cursor(next(i for i, x in enumerate(rows.rows) if x.id == xid))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert screen.query_one(TabbedContent).active == "messages"
        pane = screen.query_one(MessagesPane)
        messages = pane.query_one(MessageList)
        assert messages.cursor == 10, "the newest message, as the list shows the newest row"
        assert messages.follow
        for n in range(30):  # more than fit: the newest must stay in view
            at = T0 + (5 + n) * 10**9
            app.feed([ev.WebSocketMessage(xid, at, "server", f"news {n}", None, 7)])
        await until(pilot, lambda: len(messages.rows) == 41)
        await pilot.pause()
        assert messages.current is messages.rows[-1]
        assert "news 29" in text_of(pane.query_one(".expanded", Static))
        last_line = int(messages.scroll_y) + messages.scrollable_content_region.height - 1
        assert last_line >= 41, "scrolled to the newest message"
        await pilot.press("up")
        held = messages.current
        app.feed([ev.WebSocketMessage(xid, T0 + 99 * 10**9, "client", "late", None, 4)])
        await until(pilot, lambda: len(messages.rows) == 42)
        assert messages.current is held, "moved up: new messages do not move the reader"


async def test_5_on_an_http_exchange_says_why_nothing_opens() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
        await pilot.press("home", "enter", "5")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert screen.query_one(TabbedContent).active == "response"
        said = [n.message for n in app._notifications]
        assert any("WebSocket" in message for message in said), said


async def test_an_edited_request_and_response_show_what_was_received_and_what_was_sent() -> None:
    xid = f"{PROXY}-edited"
    exchange = scripted(xid, 50).request("POST", "/orders", source="proxy", body=b"qty=1")
    exchange.response(200, "OK", ((b"content-type", b"text/plain"),), [(1.0, b"from the app")])
    sent = b"POST /orders HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\n\r\n"
    edited_head = b"POST /orders HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\n"
    answer_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
    exchange.events[2:2] = [
        ev.TrafficHeld(xid, exchange.at(0.1), 1, "request", "client", 0, sent, b"qty=1", 5, ""),
        ev.TrafficEdited(xid, exchange.at(0.2), 1, "request", edited_head, b"qty=9"),
        ev.HoldReleased(xid, exchange.at(0.2), 1, "edited"),
    ]
    exchange.events += [
        ev.TrafficEdited(xid, exchange.at(1.5), 2, "response", answer_head, b"from the view"),
        ev.HoldReleased(xid, exchange.at(1.5), 2, "edited"),
    ]
    app = InspectorApp()
    app.feed(exchange.finish(2).events)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, xid, "request")
        request = screen.query_one(RequestPane)
        summary = text_of(request.query_one(".summary", Static))
        assert "edited in the viewer: this is what the app received" in summary
        assert "Content-Length: 5" in summary
        assert "qty=9" in summary, "the edited body"
        assert "qty=1" in text_of(request.query_one(".body", Static)), "the original stays"
        assert "as the client sent them" in text_of(request.query_one(".headers", Static))
        response = screen.query_one(ResponsePane)
        summary = text_of(response.query_one(".summary", Static))
        assert "edited in the viewer: this is what the client received" in summary
        assert "from the view" in summary
        assert "from the app" in body(screen, ResponsePane), "the original stays"


async def test_an_exchange_nobody_edited_says_nothing_of_edits() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, f"{WEB1}-1", "request")
        shown = text_of(screen.query_one(RequestPane).query_one(".summary", Static))
        assert "edited" not in shown
