"""What the viewer's Pilot tests share: the terminal size, polling for a condition, and
captured data that tries to break the viewer."""

from __future__ import annotations

import gzip
from collections.abc import Callable

from textual.pilot import Pilot

from inspector import events as ev
from tui.scenarios import scripted

SIZE = (120, 36)
ESC = "\x1b[2J\x1b[41m"
"""Clears the screen and paints it red, if it ever reaches the terminal."""
MARKUP = "[/x]"
"""Closes a tag nobody opened: a MarkupError, if it is ever parsed as Rich markup."""


async def until(pilot: Pilot[None], condition: Callable[[], bool], tries: int = 500) -> None:
    """Let the app run until `condition` holds (10 ms a try); fail if it never does."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition not met in time")


def hostile() -> list[ev.Event]:
    """Exchanges whose captured data carries markup, escapes, wide characters and a bomb:
    `bad-1` (path, query, headers, reason, text body), `bad-2` (a form and an app failure),
    `bad-3` (a path of CJK characters), `bad-4` (a gzip bomb), `bad-5` (charset=idna) and
    `bad-6` (a WebSocket)."""
    text = ((b"content-type", b"text/plain"),)
    bad1 = (
        scripted("bad-1", 0)
        .request(
            "GET",
            f"/a{MARKUP}{ESC}",
            query=f"a={MARKUP}&e={ESC}".encode(),
            headers=((b"x-markup", MARKUP.encode()), (b"x-esc", f"{ESC}\x9b2J".encode("latin-1"))),
        )
        .response(200, f"OK{ESC}", text, [(1.0, f"line1\n{ESC}INJECTED {MARKUP}\nline3".encode())])
        .finish(2)
    )
    bad2 = scripted("bad-2", 10).request(
        "POST",
        "/form",
        headers=((b"content-type", b"application/x-www-form-urlencoded"),),
        body=f"a={MARKUP}&b={ESC}".encode(),
    )
    bad2.events.append(
        ev.AppFailed("bad-2", bad2.at(1), "ValueError", f"bad {MARKUP}{ESC}", f"tb {ESC}", False)
    )
    bad2.response(500, "Internal Server Error", text, [(1.5, b"oops")]).finish(2)
    bad3 = scripted("bad-3", 20).request("GET", "/" + "漢字" * 30).response(200, "OK", (), [])
    bomb = gzip.compress(b"\0" * (5 << 20), mtime=0)
    bad4 = (
        scripted("bad-4", 30)
        .request("GET", "/bomb")
        .response(200, "OK", ((b"content-encoding", b"gzip"), *text), [(1.0, bomb)])
        .finish(2)
    )
    idna = ((b"content-type", b"text/plain; charset=idna"),)
    bad5 = scripted("bad-5", 40).request("GET", "/idna").response(200, "OK", idna, [(1, b"a\xff")])
    bad6 = scripted("bad-6", 50).request("GET", "/ws", kind="websocket")
    bad6.events += [
        ev.WebSocketAccepted("bad-6", bad6.at(1), f"chat{ESC}", ()),
        ev.WebSocketMessage("bad-6", bad6.at(2), "server", f"hi {MARKUP}{ESC}", None, 12),
    ]
    built = (bad1, bad2, bad3, bad4, bad5.finish(2), bad6)
    return [event for exchange in built for event in exchange.events]
