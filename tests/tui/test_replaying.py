"""The viewer's replay actions through `Replayer`, driven with Pilot on real sockets: the edit
screen sends exactly the edited request (as a raw server receives it) and refuses a wrong
field with a clear message; $EDITOR (a real script) rewrites the request; a WebSocket
conversation captured by the proxy from a real uvicorn + Starlette chat is replayed as a ↻ row
and compared; the Compare screen shows differences (and a snapshot pins the WebSocket view)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Static, TextArea

from inspector import events as ev
from tests.inspector.observe.test_replay_ws import CHAT, capture
from tests.servers import Server, serve
from tests.tui.pilot import SIZE, until
from tests.tui.test_replay import RawServer
from tui.app import InspectorApp
from tui.scenarios import WEB2, chat_replay, session
from tui.screens.compare import CompareScreen
from tui.screens.edit import EditScreen
from tui.widgets.cells import is_replay


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("uvicorn", CHAT, tmp_path_factory.mktemp("chat")) as server:
        yield server


TRAFFIC = "tests.apps.traffic_asgi:app"


def _notified(app: InspectorApp, title: str) -> list[str]:
    return [n.message for n in app._notifications if n.title == title]


async def _edit(app: InspectorApp, pilot: object, port: int) -> EditScreen:
    rows = app.exchanges.list
    await until(pilot, lambda: len(rows.rows) >= 1)  # type: ignore[arg-type]
    app.replayer.edit(rows.rows[0])
    ready = lambda: isinstance(app.screen, EditScreen) and bool(app.screen.query("#edit-url"))  # noqa: E731
    await until(pilot, ready)  # type: ignore[arg-type]
    screen = app.screen
    assert isinstance(screen, EditScreen)
    assert screen.query_one("#edit-url", Input).value == f"http://127.0.0.1:{port}/api/items/2"
    return screen


def _original() -> list[ev.Event]:
    return [e for e in session() if e.exchange_id == f"{WEB2}-4"]


async def test_the_edit_screen_sends_exactly_the_edited_request() -> None:
    upstream = RawServer()
    port = await upstream.start()
    app = InspectorApp(replay_base=f"http://127.0.0.1:{port}")
    app.feed(_original())  # PUT /api/items/2 {"price": 17.5}
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await _edit(app, pilot, port)
            screen.query_one("#edit-method", Input).value = "PATCH"
            screen.query_one("#edit-url", Input).value = f"http://127.0.0.1:{port}/api/items/3?x=1"
            headers = screen.query_one("#edit-headers", TextArea)
            headers.text = "Host: shop.example\nX-Edited: yes\ncontent-type: application/json"
            screen.query_one("#edit-body", TextArea).text = '{"price": 9}'
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(upstream.requests) == 1)
            assert upstream.requests[0] == (
                b"PATCH /api/items/3?x=1 HTTP/1.1\r\n"
                b"Host: shop.example\r\n"
                b"X-Edited: yes\r\n"
                b"content-type: application/json\r\n"
                b"content-length: 12\r\n"
                b"\r\n"
                b'{"price": 9}'
            )
            rows = app.exchanges.list
            await until(pilot, lambda: len(rows.rows) == 2 and rows.rows[1].finished is not None)
            replay = rows.rows[1]
            assert is_replay(replay)
            assert replay.request is not None
            assert replay.request.snapshot == {"replay_of": rows.rows[0].id}
            assert rows.current is replay
            await until(pilot, lambda: bool(_notified(app, "Replay")))
            assert "Content-Length was added" in _notified(app, "Replay")[0]
    finally:
        upstream.close()


async def test_a_wrong_field_is_named_and_nothing_is_sent() -> None:
    upstream = RawServer()
    port = await upstream.start()
    app = InspectorApp(replay_base=f"http://127.0.0.1:{port}")
    app.feed(_original())
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await _edit(app, pilot, port)
            screen.query_one("#edit-headers", TextArea).text = "Host: a\nno colon here"
            await pilot.press("ctrl+s")
            error = screen.query_one("#edit-error", Static)
            assert "headers, line 2: 'no colon here' is not a header field" in str(error.content)
            assert screen.focused is screen.query_one("#edit-headers")
            screen.query_one("#edit-headers", TextArea).text = "Host: a"
            screen.query_one("#edit-url", Input).value = "ftp://x/"
            await pilot.press("ctrl+s")
            assert "not an http:// or https:// URL" in str(error.content)
            assert app.screen is screen, "still editing"
            await pilot.press("escape")
            assert upstream.requests == []
    finally:
        upstream.close()


async def test_editor_rewrites_the_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "assert p.stat().st_mode & 0o777 == 0o600, oct(p.stat().st_mode)\n"
        "text = p.read_bytes().replace(b'PUT ', b'DELETE ').replace(b'17.5', b'0')\n"
        "p.write_bytes(text)\n"
    )
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    upstream = RawServer()
    port = await upstream.start()
    app = InspectorApp(replay_base=f"http://127.0.0.1:{port}")
    app.feed(_original())
    try:
        async with app.run_test(size=SIZE) as pilot:
            await _edit(app, pilot, port)
            await pilot.press("ctrl+e")
            await until(pilot, lambda: len(upstream.requests) == 1)
            assert upstream.requests[0] == (
                b"DELETE /api/items/2 HTTP/1.1\r\n"
                b"host: shop.example:8000\r\n"
                b"user-agent: curl/8.5.0\r\n"
                b"accept: */*\r\n"
                b"content-type: application/json\r\n"
                b"content-length: 12\r\n"
                b"\r\n"
                b'{"price": 0}'
            )
            assert not isinstance(app.screen, EditScreen)
    finally:
        upstream.close()


async def test_a_websocket_conversation_is_replayed_and_compared(chat: Server) -> None:
    original = await capture(chat, "/ws/chat", ["hello", b"\x01\x02"], None)
    app = InspectorApp(replay_base=chat.url)
    app.feed(original.events)
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 1)
        app.replayer.replay(rows.rows[0])
        await until(pilot, lambda: len(rows.rows) == 2 and rows.rows[1].finished is not None)
        replay = rows.rows[1]
        assert is_replay(replay)
        assert rows.current is replay
        await until(pilot, lambda: bool(_notified(app, "Replay")))
        message = _notified(app, "Replay")[0]
        assert "2 client messages sent, 3 server messages received (the original had 3)" in message
        app.replayer.compare(replay)
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert "same answer" in str(screen.heading.content)


async def test_a_target_that_is_down_is_said(chat: Server) -> None:
    original = await capture(chat, "/ws/chat", ["hello"], None)
    app = InspectorApp(replay_base="http://127.0.0.1:9")
    app.feed(original.events)
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) == 1)
        app.replayer.replay(rows.rows[0], paced=True)
        await until(pilot, lambda: len(rows.rows) == 2 and rows.rows[1].finished is not None)
        assert rows.rows[1].state == "failed"
        await until(pilot, lambda: bool(_notified(app, "Replay")))
        assert "ConnectionRefusedError" in _notified(app, "Replay")[0]


async def test_compare_is_only_for_a_replay_whose_original_is_listed() -> None:
    app = InspectorApp()
    app.feed(session())
    async with app.run_test(size=SIZE) as pilot:
        rows = app.exchanges.list
        await until(pilot, lambda: len(rows.rows) > 1)
        app.replayer.compare(rows.rows[0])
        await until(pilot, lambda: bool(_notified(app, "Compare")))
        assert "not a replay" in _notified(app, "Compare")[0]
        app.feed(chat_replay())
        await until(pilot, lambda: any(is_replay(x) for x in rows.rows))
        replay = next(x for x in rows.rows if is_replay(x))
        app.replayer.compare(replay)
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert "2 differences" in str(screen.heading.content)
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


async def test_listen_app_replays_through_the_app_object_not_the_network() -> None:
    """`inspector listen --app module:attr`: `r` sends the request through the app in
    process; nothing listens at the captured address (port 9), and the replay answers."""
    from inspector.observe.apps import load_app
    from tests.inspector.observe.test_inprocess import captured

    original = captured("POST", "/api/items", body=b'{"id": 5, "name": "saw"}')
    assert original.request is not None
    app = InspectorApp(replay_base="http://127.0.0.1:9", replay_app=load_app(TRAFFIC))
    async with app.run_test(size=SIZE) as pilot:
        app.feed(original.events)
        await until(pilot, lambda: app.store.get("orig-1") is not None)
        app.exchanges.list.select("orig-1")
        await pilot.press("r")
        await until(pilot, lambda: any(is_replay(x) for x in app.store))
        (again,) = [x for x in app.store if is_replay(x)]
        await until(pilot, lambda: again.finished is not None)
        assert again.request is not None
        assert again.request.source == "asgi"  # it went through the app, not a socket
        assert again.status == 201
        assert any("through " + TRAFFIC + " answered 201" in m for m in _notified(app, "Replay"))
