"""How long the Messages tab takes to filter a WebSocket connection at the message cap.

From the repository root (not run by the tests):

    .venv/bin/python bench/messages_filter.py
    .venv/bin/python bench/messages_filter.py --messages 10000 --size 4096 --runs 5

One exchange holding `--messages` messages (the proxy's default cap, 10,000), alternating
client text, server JSON text and server binary, each `--size` bytes, is shown in the real
viewer (`InspectorApp.run_test`, the detail screen's Messages tab). For each filter below the
bench types it into the tab's filter input as a user does (one `Input.Changed`: compile once,
then match every message and refill the virtual list) and times, on the app's loop, from the
change to the next screen refresh. Per filter: the median of `--runs` and how many messages
were kept. Single process; the viewer's loop is the one CPU-bound thread.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from textual.widgets import Input

from inspector import events as ev
from inspector.observe.store import Store
from tui.app import InspectorApp
from tui.widgets.messages import MessagesPane

FILTERS = (
    "~from client",
    "~text & ~size >1k",
    "~binary | ~b needle",
    "~bs 'price\": 4[0-9]'",
    "!~from server & ~b hello",
    "",
)


def conversation(messages: int, size: int) -> list[ev.Event]:
    xid = "bench0a1b2c-1"
    headers = ((b"host", b"127.0.0.1"), (b"upgrade", b"websocket"), (b"connection", b"upgrade"))
    events: list[ev.Event] = [
        ev.RequestStarted(
            xid,
            0,
            "proxy",
            "websocket",
            "GET",
            "ws",
            "1.1",
            "/ws",
            None,
            b"",
            headers,
            ("127.0.0.1", 40000),
            ("127.0.0.1", 8000),
            1_700_000_000.0,
            {},
        ),
        ev.WebSocketAccepted(xid, 1, None, ()),
    ]
    pad = "x" * max(0, size - 40)
    for i in range(messages):
        at = 2 + i * 1000
        if i % 3 == 0:
            text = f"hello {i} {pad}"
            events.append(ev.WebSocketMessage(xid, at, "client", text, None, len(text)))
        elif i % 3 == 1:
            text = f'{{"price": {i % 100}, "pad": "{pad}"}}'
            events.append(ev.WebSocketMessage(xid, at, "server", text, None, len(text)))
        else:
            data = bytes(range(256)) * (size // 256 + 1)
            events.append(ev.WebSocketMessage(xid, at, "server", None, data[:size], size))
    return events


async def measure(messages: int, size: int, runs: int) -> None:
    store = Store()
    app = InspectorApp(store, title="bench", subtitle="")
    events = conversation(messages, size)
    async with app.run_test(size=(120, 40)) as pilot:
        app.feed(events)
        for _ in range(200):
            await pilot.pause(0.01)
            if store.get("bench0a1b2c-1") is not None:
                break
        exchange = store.get("bench0a1b2c-1")
        assert exchange is not None
        assert len(exchange.messages) == messages
        await pilot.press("enter", "5")
        await pilot.pause(0.2)
        pane = app.screen.query_one(MessagesPane)
        field = pane.query_one(Input)
        print(f"{messages:,} messages of {size:,} bytes in one exchange; median of {runs} runs")
        for text in FILTERS:
            took = []
            for _ in range(runs):
                field.value = "~text" if text == "" else ""  # a change, whatever came before
                await pilot.pause(0.05)
                started = time.perf_counter()
                field.value = text
                await pilot.pause()  # the Changed message handled, the screen refreshed
                took.append(time.perf_counter() - started)
            kept = len(pane.list.rows)
            label = text or "(no filter)"
            print(f"  {label:32} {statistics.median(took) * 1000:8.1f} ms  {kept:6,} kept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(measure(args.messages, args.size, args.runs))


if __name__ == "__main__":
    main()
