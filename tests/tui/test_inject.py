"""Inject (`i`): the payload checked while typing (JSON's error position, odd or stray hex
explained), messages sent through a real relay's control socket to the app and to the
client (what the client receives asserted), marked as injected in the Messages tab, the
relay's refusal shown; and why injection is not possible where it is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import RadioButton, Static, TextArea
from websockets.asyncio.client import connect

from inspector import events as ev
from tests.servers import Server
from tests.tui.pilot import SIZE, until
from tests.tui.relay import control_path, listed, relay, upstream
from tests.tui.test_actions import notified
from tests.tui.test_detail import text_of
from tui.app import InspectorApp
from tui.scenarios import PROXY, scripted, session
from tui.screens.detail import DetailScreen
from tui.screens.inject import BINARY, TEXT, InjectScreen, PayloadError, encode

__all__ = ["upstream"]  # the fixture, used by name


def test_payloads_by_format() -> None:
    assert encode("text", "héllo") == (TEXT, "héllo".encode())
    assert encode("json", '{"a": [1, 2]}') == (TEXT, b'{"a": [1, 2]}')
    assert encode("hex", "01 ff\n0A") == (BINARY, b"\x01\xff\x0a")
    assert encode("hex", "") == (BINARY, b"")
    with pytest.raises(PayloadError, match=r"invalid JSON: Expecting ',' delimiter at line 2 col"):
        encode("json", '{"a": 1\n "b": 2}')
    with pytest.raises(PayloadError, match="odd number of hex digits \\(3\\): each byte takes two"):
        encode("hex", "01f")
    with pytest.raises(PayloadError, match="not a hex digit at position 3: 'g'"):
        encode("hex", "01 g2")


def _chat_open(xid: str, source: ev.Source) -> list[ev.Event]:
    chat = scripted(xid, 5000).request("GET", "/ws/live", source=source, kind="websocket")
    chat.events.append(ev.WebSocketAccepted(xid, chat.at(1), None, ()))
    return chat.events


@pytest.mark.parametrize(
    ("xid", "control", "saved", "said"),
    [
        (f"{PROXY}-3", None, True, "a saved session"),
        ("live-proxy", None, False, "this viewer has no proxy to send through"),
        ("live-asgi", "x.sock", False, "captured by the app's ASGI middleware"),
        (f"{PROXY}-1", "x.sock", False, "this exchange is HTTP"),
        (f"{PROXY}-3", "x.sock", False, "the connection is closed"),
    ],
)
async def test_why_not(xid: str, control: str | None, saved: bool, said: str) -> None:
    app = InspectorApp(control=control, saved=saved)
    app.feed(session() + _chat_open("live-proxy", "proxy") + _chat_open("live-asgi", "asgi"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.exchanges.list.select(xid))
        await pilot.press("i")
        await until(pilot, lambda: bool(notified(app, "Inject")))
        assert said in notified(app, "Inject")[0]
        assert not isinstance(app.screen, InjectScreen)


async def test_the_screen_checks_while_typing() -> None:
    app = InspectorApp(control="x.sock")
    app.feed(_chat_open("live-proxy", "proxy"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.exchanges.list.select("live-proxy"))
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, InjectScreen))
        screen = app.screen
        check = screen.query_one("#check", Static)
        await pilot.press(*"hi")
        assert "a text message of 2 B to the app" in text_of(check)
        await pilot.click("#json")
        screen.query_one(TextArea).text = '{"a": 1,}'
        await pilot.pause()
        assert check.has_class("-error")
        assert "invalid JSON" in text_of(check)
        assert "line 1 column 9" in text_of(check)
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, InjectScreen), "nothing sent, the text kept"
        await pilot.click("#hex")
        screen.query_one(TextArea).text = "01 0"
        await pilot.pause()
        assert "odd number of hex digits (3)" in text_of(check)
        await pilot.press("escape")
        assert not isinstance(app.screen, InjectScreen)


async def test_inject_both_ways_through_the_relay(upstream: Server, tmp_path: Path) -> None:
    app = InspectorApp(control=control_path(tmp_path))
    async with (
        app.run_test(size=SIZE) as pilot,
        relay(app, upstream) as proxy,
        connect(f"ws://127.0.0.1:{proxy.port}/ws/echo") as ws,
    ):
        await ws.send("hello")
        assert await ws.recv() == "hello"
        exchange = await listed(pilot, app, "/ws/echo", "open")
        await pilot.press("i")  # from the list: to the app by default
        await until(pilot, lambda: isinstance(app.screen, InjectScreen))
        app.screen.query_one(TextArea).text = "from the viewer"
        await pilot.press("ctrl+s")
        assert await ws.recv() == "from the viewer", "the app got it, and echoed it"
        await until(pilot, lambda: not isinstance(app.screen, InjectScreen))
        assert "injected a text message of 15 B to the app" in notified(app, "Inject")[-1]

        await pilot.press("enter")  # the detail's Messages tab, then `i` from there
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, InjectScreen))
        screen = app.screen
        screen.query_one("#client", RadioButton).value = True
        await pilot.click("#json")
        screen.query_one(TextArea).text = json.dumps({"injected": True})
        await pilot.click("#send")
        assert await ws.recv() == '{"injected": true}', "the client got it"
        await until(pilot, lambda: not isinstance(app.screen, InjectScreen))

        await ws.send("still talking")
        assert await ws.recv() == "still talking", "the conversation goes on"
        # the relay records what it wrote, marked
        await until(pilot, lambda: sum(m.injected for m in exchange.messages) == 2)
        injected = [(m.sender, m.text) for m in exchange.messages if m.injected]
        assert injected == [
            ("client", "from the viewer"),
            ("server", '{"injected": true}'),
        ]

        await pilot.press("i")  # binary, to the client
        await until(pilot, lambda: isinstance(app.screen, InjectScreen))
        app.screen.query_one("#client", RadioButton).value = True
        await pilot.click("#hex")
        app.screen.query_one(TextArea).text = "00 01 fe ff"
        await pilot.press("ctrl+s")
        assert await ws.recv() == b"\x00\x01\xfe\xff"


async def test_a_closed_connection_says_so(upstream: Server, tmp_path: Path) -> None:
    """Closed between the key and the send: the relay's sentence, the screen kept."""
    app = InspectorApp(control=control_path(tmp_path))
    async with app.run_test(size=SIZE) as pilot, relay(app, upstream) as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/ws/echo") as ws:
            await ws.send("hello")
            await ws.recv()
            await listed(pilot, app, "/ws/echo", "open")
            await pilot.press("i")
            await until(pilot, lambda: isinstance(app.screen, InjectScreen))
        app.screen.query_one(TextArea).text = "too late"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(notified(app, "Inject")))
        assert "not injected: " in notified(app, "Inject")[0]
        assert "no open WebSocket connection" in notified(app, "Inject")[0]
        assert isinstance(app.screen, InjectScreen), "kept, with the text"


async def test_the_control_socket_gone(tmp_path: Path) -> None:
    app = InspectorApp(control=control_path(tmp_path))  # nothing listens there
    app.feed(_chat_open("live-proxy", "proxy"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.exchanges.list.select("live-proxy"))
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, InjectScreen))
        await pilot.press(*"x", "ctrl+s")
        await until(pilot, lambda: bool(notified(app, "Inject")))
        assert notified(app, "Inject") == ["not injected: the proxy's control socket is gone"]
