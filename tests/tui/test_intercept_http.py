"""Intercept of HTTP through a real relay: a held request's head and body edited in the
viewer reach the app as edited (the answer shows it), a held response forwarded as held."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from textual.widgets import Input, Static, TextArea

from tests.servers import Server
from tests.tui.pilot import SIZE, until
from tests.tui.relay import control_path, relay, upstream
from tests.tui.test_detail import text_of
from tui.app import InspectorApp
from tui.screens.hold_edit import HoldEditScreen
from tui.screens.intercept import InterceptScreen

__all__ = ["upstream"]  # the fixture, used by name


async def test_a_request_edited_and_a_response_forwarded(upstream: Server, tmp_path: Path) -> None:
    app = InspectorApp(control=control_path(tmp_path))
    async with (
        app.run_test(size=SIZE) as pilot,
        relay(app, upstream) as proxy,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as client,
    ):
        await pilot.press("I")
        await until(pilot, lambda: isinstance(app.screen, InterceptScreen))
        screen = app.screen
        assert isinstance(screen, InterceptScreen)
        screen.query_one("#requests", Input).value = "~m POST & ~u /echo"
        screen.query_one("#responses", Input).value = "~u /plain"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.actions.filters[1] is not None)

        posted = asyncio.ensure_future(client.post("/echo", content=b"as the client sent it"))
        await until(pilot, lambda: len(screen.holds.rows) == 1)
        detail = text_of(screen.query_one("#hold-detail", Static))
        assert "POST /echo HTTP/1.1" in detail
        assert "as the client sent it" in detail
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, HoldEditScreen))
        edit = app.screen
        head = edit.query_one("#head", TextArea)
        assert head.text.startswith("POST /echo HTTP/1.1\n")
        head.text += "\nX-Edited: yes"
        edit.query_one("#body", TextArea).text = "as the viewer edited it"
        await pilot.press("ctrl+s")
        answer = await posted
        assert answer.content == b"as the viewer edited it", "Content-Length follows the edit"
        await until(pilot, lambda: not screen.holds.rows)

        got = asyncio.ensure_future(client.get("/plain"))
        await until(pilot, lambda: len(screen.holds.rows) == 1)
        assert screen.holds.rows[0][1].what == "response"
        await pilot.press("f")
        assert (await got).content == b"hello"
