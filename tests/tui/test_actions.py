"""Actions on exchanges: mark, export (HAR, curl, an unwritable path), copy as curl, replay
(to a live server on 127.0.0.1 and to a dead port), and captured text in notifications."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

import tui.screens.export
from inspector import events as ev
from inspector.observe.replay import replay_warning
from tests.servers import free_port
from tests.tui.pilot import SIZE, hostile, until
from tui.app import InspectorApp
from tui.scenarios import WEB1, WEB2, scripted, session
from tui.screens.detail import DetailScreen
from tui.screens.export import ExportScreen
from tui.widgets.cells import is_replay


@pytest.fixture(autouse=True)
def no_tmux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies go by OSC 52 and into a file under `tmp_path`, wherever the tests run (see
    test_copy.py for tmux)."""
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


async def loaded(pilot: Pilot[None]) -> InspectorApp:
    app = pilot.app
    assert isinstance(app, InspectorApp)
    await until(pilot, lambda: len(app.exchanges.list.rows) == 16)
    return app


def scenario(**options: object) -> InspectorApp:
    app = InspectorApp(**options)  # type: ignore[arg-type]
    app.feed(session())
    return app


async def export(pilot: Pilot[None], path: str, *keys: str) -> ExportScreen:
    await pilot.press("x")
    dialog = pilot.app.screen
    assert isinstance(dialog, ExportScreen)
    await pilot.press(*keys)
    dialog.query_one("#path", Input).value = path
    dialog.query_one("#path", Input).focus()
    await pilot.press("enter")
    return dialog


def notified(app: InspectorApp, title: str) -> list[str]:
    return [n.message for n in app._notifications if n.title == title]


async def test_mark_then_export_marked_as_har(tmp_path: Path) -> None:
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await pilot.press("home", "m", "m")
        assert app.exchanges.list.marked == {f"{WEB1}-1", f"{WEB2}-1"}
        assert app.exchanges.list.cursor == 2, "marking moves on, like mitmproxy"
        assert "2 marked" in str(app.exchanges.status_bar.render())
        await pilot.press("up", "m")
        assert app.exchanges.list.marked == {f"{WEB1}-1"}
        await export(pilot, str(tmp_path / "one.har"))
        await until(pilot, lambda: bool(notified(app, "Exported")))
        assert app.screen is app.exchanges
        assert notified(app, "Exported")[0].startswith(f"1 exchange to {tmp_path / 'one.har'} (")
        entries = json.loads((tmp_path / "one.har").read_text())["log"]["entries"]
        assert [e["request"]["url"] for e in entries] == [
            "http://shop.example:8000/api/items?page=2"
        ]


async def test_export_all_shown_as_curl_with_secrets_masked(tmp_path: Path) -> None:
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await pilot.press("f", *"~m POST", "enter")
        assert len(app.exchanges.list.rows) == 2
        await pilot.press("x")
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        await pilot.click("#curl", offset=(2, 0))  # inside the button, past its edge
        assert dialog.query_one("#path", Input).value.endswith(".sh")
        dialog.query_one("#path", Input).value = str(tmp_path / "posts.sh")
        await pilot.click("#export")
        await until(pilot, lambda: bool(notified(app, "Exported")))
        script = (tmp_path / "posts.sh").read_text()
        assert script.count("curl ") == 2
        assert "/api/orders" in script
        assert "/login" in script
        assert "s3cr3t" not in script


async def test_export_to_an_unwritable_path_says_why_and_stays_open(tmp_path: Path) -> None:
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        target = tmp_path / "missing" / "dir" / "x.har"
        dialog = await export(pilot, str(target))
        assert app.screen is dialog
        assert not target.exists()
        error = str(dialog.query_one(".error", Static).render())
        assert "cannot write" in error
        assert "No such file or directory" in error
        assert any(n.severity == "error" for n in app._notifications)
        await pilot.press("escape")
        assert app.screen is app.exchanges


async def test_copy_as_curl_puts_the_command_on_the_clipboard() -> None:
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await pilot.press("home", "down", "y")
        assert app.clipboard.startswith("curl ")
        assert "http://shop.example:8000/api/orders" in app.clipboard
        assert "--data-raw" in app.clipboard
        await until(pilot, lambda: bool(notified(app, "Curl command saved")))


async def _serve_once() -> tuple[asyncio.Server, int, list[bytes]]:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        body = b'{"replayed": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def test_replay_sends_the_request_again_and_lists_the_answer() -> None:
    server, port, seen = await _serve_once()
    async with (
        server,
        scenario(replay_base=f"http://127.0.0.1:{port}").run_test(size=SIZE) as pilot,
    ):
        app = await loaded(pilot)
        await pilot.press("home", "r")
        await until(pilot, lambda: len(app.store) == 17 and app.exchanges.list.rows[-1].finished)
        replay = app.exchanges.list.rows[-1]
        assert is_replay(replay)
        assert replay.request is not None
        assert replay.request.snapshot == {"replay_of": f"{WEB1}-1"}
        assert replay.request.source == "asgi"
        assert replay.status == 200
        assert bytes(replay.response_body.data) == b'{"replayed": true}'
        assert seen[0].startswith(b"GET /api/items?page=2 HTTP/1.1")
        assert "↻" in app.exchanges.list.render_row(replay, 16, 118).plain


async def test_replay_to_a_dead_port_is_a_failed_exchange_and_a_notification() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with scenario(replay_base=dead).run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await pilot.press("r")
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        # The replay's start and its failure may be folded in apart: wait for its end.
        await until(
            pilot, lambda: len(app.store) == 17 and app.exchanges.list.rows[-1].finished is not None
        )
        failed = app.exchanges.list.rows[-1]
        assert failed.error is not None
        assert failed.error.type == "ConnectionRefusedError"
        assert failed.state == "failed"
        assert is_replay(failed)
        assert app.is_running


async def test_export_runs_in_a_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    write = tui.screens.export.write_export

    def recording(*args: object, **kwargs: object) -> int:
        threads.append(threading.current_thread())
        return write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tui.screens.export, "write_export", recording)
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await export(pilot, str(tmp_path / "all.har"))
        await until(pilot, lambda: bool(notified(app, "Exported")))
        assert threads
        assert threads[0] is not threading.main_thread()
        entries = json.loads((tmp_path / "all.har").read_text())["log"]["entries"]
        assert len(entries) == 3, "the proxy's records, by default"


async def test_export_asks_before_overwriting(tmp_path: Path) -> None:
    target = tmp_path / "old.har"
    target.write_text("keep me")
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        dialog = await export(pilot, str(target))
        assert app.screen is dialog
        assert "exists: press enter again to overwrite" in str(
            dialog.query_one(".error", Static).render()
        )
        assert target.read_text() == "keep me"
        await pilot.press("enter")
        await until(pilot, lambda: bool(notified(app, "Exported")))
        assert app.screen is app.exchanges
        assert json.loads(target.read_text())["log"]["entries"]


async def test_export_expands_home_and_reports_the_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        await export(pilot, "~/a.har")
        await until(pilot, lambda: bool(notified(app, "Exported")))
        assert len(json.loads((tmp_path / "a.har").read_text())["log"]["entries"]) == 3
        await export(pilot, "./b.har")
        await until(pilot, lambda: len(notified(app, "Exported")) == 2)
        assert f"to {tmp_path}/./b.har (" not in notified(app, "Exported")[1]
        assert f"to {tmp_path / 'b.har'} (" in notified(app, "Exported")[1]


@pytest.mark.parametrize(
    ("name", "reason"),
    [("out[/x].har", "No such file or directory"), ("nul\0.har", "embedded null byte")],
)
async def test_export_errors_with_odd_paths_stay_in_the_dialog(
    tmp_path: Path, name: str, reason: str
) -> None:
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        path = str(tmp_path / "missing" / name)
        dialog = await export(pilot, path)
        assert app.screen is dialog
        error = str(dialog.query_one(".error", Static).render())
        assert reason in error
        assert "[/x]" in error or "nul" in error
        assert any(n.title == "Export failed" for n in app._notifications)
        assert app.is_running


def test_replay_warns_when_the_body_sent_is_not_the_whole_one() -> None:
    app = InspectorApp()
    app.store.add(session())
    whole = app.store.get(f"{WEB2}-1")
    assert whole is not None
    assert replay_warning(whole) is None
    cut = scripted("cut-1").request("POST", "/upload", body=b"abc")
    cut.events[-1] = ev.RequestBodyChunk("cut-1", cut.at(1), b"abc", 10, False)
    unread = scripted("unread-1").request("POST", "/upload", body=b"abc")
    unread.events[-1] = ev.RequestBodyChunk("unread-1", unread.at(1), b"abc", 3, True)
    declared = scripted("declared-1").request(
        "POST", "/upload", headers=((b"content-length", b"100"),)
    )
    app.store.add(cut.events + unread.events + declared.events)
    warnings = [replay_warning(app.store.get(x)) for x in ("cut-1", "unread-1", "declared-1")]
    assert warnings == [
        "replaying 3 of 10 request body bytes: capture kept no more",
        "replaying 3 request body bytes: the app did not read the rest",
        "replaying 0 of 100 request body bytes: capture kept no more",
    ]


async def test_replay_of_a_cut_body_notifies_a_warning() -> None:
    cut = scripted("cut-1").request("POST", "/upload", body=b"abc")
    cut.events[-1] = ev.RequestBodyChunk("cut-1", cut.at(1), b"abc", 10, False)
    app = InspectorApp(replay_base=f"http://127.0.0.1:{free_port()}")
    app.feed(cut.events)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 1)
        await pilot.press("r")
        assert any(
            n.severity == "warning" and "replaying 3 of 10" in n.message for n in app._notifications
        )
        await until(pilot, lambda: bool(notified(app, "Replay")) and len(app.store) == 2)


async def test_notifications_quote_captured_text_without_markup_or_escapes() -> None:
    app = InspectorApp(replay_base="http://[bad")
    app.feed(hostile())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.exchanges.list.rows) == 6)
        await pilot.press("home", "y", "r")
        await until(pilot, lambda: bool(notified(app, "Replay")))
        await until(pilot, lambda: bool(notified(app, "Curl command saved")))
        assert app._reveal is None, "no replay row to wait for: none was made"
        copied = notified(app, "Curl command saved")[0]
        assert "/a[/x]" in copied
        assert all("\x1b" not in n.message and not n.markup for n in app._notifications)
        await pilot.pause()
        assert app.is_running


def _upgrade(xid: str) -> list[ev.Event]:
    """A WebSocket upgrade that starts after everything in the scenario."""
    return scripted(xid, 3000).request("GET", "/ws/live", kind="websocket").events


@pytest.mark.parametrize("key", ["y", "r", "m", "enter"])
async def test_a_key_acts_on_the_row_it_was_pressed_on_not_where_following_moved(
    key: str,
) -> None:
    """The key is pressed while the cursor shows the last request, and handled after a new
    row has arrived and been drawn under the cursor (a fold ran between the two)."""
    async with scenario(replay_base=f"http://127.0.0.1:{free_port()}").run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        rows = app.exchanges.list
        await pilot.pause()
        seen = rows.current
        assert seen is not None
        assert seen.id == f"{WEB1}-7"
        assert rows.follow
        pressed = events.Key(key, key if len(key) == 1 else None)  # pressed now, while...
        app.feed(_upgrade("upgrade-1"))  # ... a new row arrives and following moves on to it
        await until(pilot, lambda: rows.current is not None and rows.current.id == "upgrade-1")
        await until(pilot, lambda: rows._seen[-1][1] is rows.current)  # drawn before the key
        app.post_message(pressed)
        await pilot.pause()
        if key == "y":
            assert "/api/items?page=3" in app.clipboard
        elif key == "r":
            await until(pilot, lambda: bool(notified(app, "Replay")) and len(app.store) == 18)
            replayed = [x for x in app.store if is_replay(x) and x.request is not None]
            assert [x.request.snapshot for x in replayed if x.request] == [
                {"replay_of": f"{WEB1}-7"}
            ]
            await until(pilot, lambda: rows.current is replayed[0])  # the replay's new row
        elif key == "m":
            assert rows.marked == {f"{WEB1}-7"}
        else:
            assert isinstance(app.screen, DetailScreen)
            assert app.screen.exchange is seen
            await pilot.press("escape")
        assert not rows.follow, "acting on a row stops following"
        if key in ("y", "enter"):  # marking moves on to the next row, like mitmproxy
            assert rows.current is seen


async def test_a_key_pressed_after_the_new_row_was_drawn_acts_on_it() -> None:
    async with scenario().run_test(size=SIZE) as pilot:
        app = await loaded(pilot)
        rows = app.exchanges.list
        app.feed(_upgrade("upgrade-1"))
        await until(pilot, lambda: rows.current is not None and rows.current.id == "upgrade-1")
        await until(pilot, lambda: rows._seen[-1][1] is rows.current)  # drawn under the cursor
        await pilot.press("y")
        assert "/ws/live" in app.clipboard
        assert not rows.follow
