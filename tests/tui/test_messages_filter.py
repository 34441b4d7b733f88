"""The Messages tab's filter in the `~` language: direction, type, size and payload terms, a
mistake shown with its position (the last good filter kept), injected messages marked, and a
connection at the message cap refiltered without recompiling per message."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Input, Static

from inspector import events as ev
from inspector import matching
from inspector.observe.exchange import DEFAULT_MAX_MESSAGES
from tests.tui.pilot import SIZE, until
from tests.tui.test_detail import opened, text_of
from tui.app import InspectorApp
from tui.scenarios import PROXY, T0, scripted, session
from tui.widgets.messages import MessageList, MessagesPane

CHAT = f"{PROXY}-3"


async def _pane(app: InspectorApp, pilot: object) -> tuple[MessagesPane, MessageList, Input]:
    screen = await opened(pilot, CHAT, "messages")  # type: ignore[arg-type]
    pane = screen.query_one(MessagesPane)
    return pane, pane.query_one(MessageList), pane.query_one(Input)


async def test_terms_keep_the_matching_messages() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        pane, messages, field = await _pane(app, pilot)
        assert len(messages.rows) == 11
        field.focus()
        await pilot.press(*"teapot")  # a bare word searches payloads
        assert [m.sender for m in messages.rows] == ["client", "server"]
        cases = {
            "~from client": 5,
            "~from server": 6,
            "~binary": 1,
            "~text & ~from client": 4,
            "~size >40": 4,
            "~bs pong | ~bq ping": 2,
            "~b type & !~b join": 4,
            "": 11,
        }
        for text, count in cases.items():
            field.value = text
            await pilot.pause()
            assert len(messages.rows) == count, text
        assert not pane.query_one(".error", Static).has_class("-shown")


async def test_a_mistake_is_shown_with_its_position_and_the_last_filter_stays() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        pane, messages, field = await _pane(app, pilot)
        field.value = "~from client"
        await pilot.pause()
        assert len(messages.rows) == 5
        error = pane.query_one(".error", Static)
        for text, said in (
            ("~from x", "~from needs client or server, got 'x'"),
            ("(unclosed", "unclosed parenthesis"),
            ("~bq (", "needs a regex"),
            ("~size >>1", "~size needs a size like >1k"),
        ):
            field.value = text
            await pilot.pause()
            assert error.has_class("-shown"), text
            assert said in text_of(error)
            assert len(messages.rows) == 5, "the last good filter keeps its rows"
        shown = error.content
        assert isinstance(shown, Text)
        assert any("reverse" in str(span.style) for span in shown.spans), "the position marked"
        field.value = "~from server"
        await pilot.pause()
        assert not error.has_class("-shown")
        assert len(messages.rows) == 6


async def test_injected_messages_are_marked() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        pane, messages, _ = await _pane(app, pilot)
        note = ev.WebSocketMessage(
            CHAT, T0 + 5 * 10**9, "client", "from the viewer", None, 15, True
        )
        app.feed([note])
        await until(pilot, lambda: len(messages.rows) == 12)
        await pilot.press("end")
        row = messages.render_row(messages.rows[-1], 11, 116).plain
        assert "injected" in row
        assert "from the viewer" in row
        assert "injected from this viewer" in text_of(pane.query_one(".expanded", Static))
        assert "injected" not in messages.render_row(messages.rows[0], 0, 116).plain


async def test_a_connection_at_the_cap_is_filtered_with_one_compile() -> None:
    """Each edit compiles once; refiltering evaluates the compiled rule per message."""
    xid = "capped"
    chat = scripted(xid, 0).request("GET", "/ws", source="proxy", kind="websocket")
    chat.events.append(ev.WebSocketAccepted(xid, chat.at(1), None, ()))
    for n in range(DEFAULT_MAX_MESSAGES + 5):
        sender: ev.Sender = "client" if n % 2 else "server"
        text = f'{{"n": {n}, "kind": "{"even" if n % 2 == 0 else "odd"}"}}'
        chat.events.append(ev.WebSocketMessage(xid, chat.at(2 + n), sender, text, None, len(text)))
    app = InspectorApp()
    app.feed(chat.events)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, xid, "messages")
        pane = screen.query_one(MessagesPane)
        messages = pane.query_one(MessageList)
        assert len(messages.rows) == DEFAULT_MAX_MESSAGES
        field = pane.query_one(Input)
        field.value = "~from client & ~b odd"
        await pilot.pause()
        assert len(messages.rows) == DEFAULT_MAX_MESSAGES // 2
        rule = pane.rule
        assert isinstance(rule, matching.And)
        messages.focus()
        await pilot.press("pagedown", "pagedown", "end", "home")  # repaints, and rows expanded
        assert pane.rule is rule, "compiled once per edit, never per repaint"
        assert all(m.sender == "client" for m in messages.rows)
