"""`inspector open` streams a session of any size: it is read batch by batch, at the pace the
viewer folds it into its store (which evicts the oldest past its limits) or the headless log
prints it, so memory does not grow with the file."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from msgspec.structs import replace

from inspector import events as ev
from inspector.observe.session import SessionWriter, read_batches
from tests.inspector.samples import request_started
from tests.servers import ROOT
from tests.tui.pilot import SIZE, until
from tui.app import InspectorApp
from tui.outputs import AHEAD, Outputs


def write_session(path: Path, exchanges: int, body: int = 100) -> int:
    """A session of `exchanges` exchanges with `body` bytes each; returns its event count."""
    writer = SessionWriter(path)
    data = b"x" * body
    for start in range(0, exchanges, 500):
        batch: list[ev.Event] = []
        for n in range(start, min(start + 500, exchanges)):
            xid = f"test-{n}"
            batch += [
                replace(request_started(), exchange_id=xid, query=f"n={n}".encode()),
                ev.ResponseBodyChunk(xid, 2, data, body, False),
                ev.ExchangeFinished(xid, 3, "completed", 1, 2, 3),
            ]
        writer(batch)
    writer.close()
    return 3 * exchanges


class Watched:
    """The batches of a session, noting how many events were read and not yet in the store
    each time one more batch is read."""

    def __init__(self, batches: Iterator[list[ev.Event]], app: InspectorApp) -> None:
        self.batches, self.app = batches, app
        self.read = 0
        self.most_ahead = 0
        self.count = 0

    def __iter__(self) -> Iterator[list[ev.Event]]:
        for batch in self.batches:
            self.most_ahead = max(self.most_ahead, self.read - self.app.store.events_seen)
            self.read += len(batch)
            self.count += 1
            yield batch


def viewer_outputs(store_exchanges: int) -> Outputs:
    args = argparse.Namespace(
        save=None, no_tui=False, filter=None, store_exchanges=store_exchanges, store_mib=64
    )
    return Outputs(args, reading=True)


async def test_the_viewer_takes_a_session_in_through_a_bounded_store(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    events = write_session(path, 3_000)
    outputs = viewer_outputs(store_exchanges=100)
    app = outputs.viewer("inspector", str(path))
    async with app.run_test(size=SIZE) as pilot:
        watched = Watched(read_batches(path, max_events=300), app)
        await outputs.load(app, iter(watched))
        await until(pilot, lambda: app.store.events_seen == events)
        assert len(app.store) == 100
        assert app.store.evicted == 2_900
        assert app.store.get("test-2999") is not None
        assert len(app.exchanges.list.rows) == 100
    # Never more than a few batches read ahead of the store, of the 30 in the file.
    assert watched.count == 30
    assert watched.most_ahead <= AHEAD * 300


async def test_a_paused_viewer_reads_no_further(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    events = write_session(path, 1_000)
    outputs = viewer_outputs(store_exchanges=10_000)
    app = outputs.viewer("inspector", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")
        watched = Watched(read_batches(path, max_events=100), app)
        loading = asyncio.ensure_future(outputs.load(app, iter(watched)))
        await until(pilot, lambda: len(app.held) == AHEAD * 100)
        for _ in range(10):
            await pilot.pause(0.01)
        assert watched.count == AHEAD  # held, not folded: nothing more is read
        await pilot.press("space")
        await loading
        await until(pilot, lambda: app.store.events_seen == events)
    assert len(app.store) == 1_000


def peak_rss_kib(*args: str) -> int:
    """The peak resident memory of `inspector ARGS` (its output thrown away), in KiB."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", *args], cwd=ROOT, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0
    return usage.ru_maxrss


def test_open_headless_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write_session(small, 500, body=4096)
    write_session(large, 15_000, body=4096)
    assert large.stat().st_size > 80 << 20
    grown = peak_rss_kib("open", str(large), "--no-tui") - peak_rss_kib(
        "open", str(small), "--no-tui"
    )
    assert grown < 16 << 10  # KiB: a few batches' worth, for a file 80 MiB larger
