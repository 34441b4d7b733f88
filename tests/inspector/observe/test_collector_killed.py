"""A viewer killed with SIGKILL mid-stream and restarted on the same address (issue #10): what
the collectors received plus what the sink counts lost is exactly what was recorded.

Real processes: a `Sink` in this process records; `inspector listen --no-tui --save` is the
collector. Each collector is stopped (SIGSTOP) once it has acknowledged everything, so that
what the sink sends next lands in a socket nobody will read, then killed; a new one is started
on the same address while the sink goes on recording.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from inspector import events as ev
from inspector import records as rec
from inspector import wire
from inspector.observe.session import read_session
from inspector.sink import Sink
from tests.servers import ROOT


def listen(address: wire.Address, session: Path) -> subprocess.Popen[bytes]:
    command = ["-m", "tui", "listen", "--no-tui", "--bus", str(address), "--save", str(session)]
    return subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_records_received_plus_records_counted_lost_are_all_records(tmp_path: Path) -> None:
    address = wire.Address("unix", path=str(tmp_path / "bus.sock"))
    sink = Sink(address)
    recorded: list[str] = []

    def record(count: int) -> None:
        for _ in range(count):
            recorded.append(f"x-{len(recorded)}")
            sink.record(rec.CLIENT_GONE, recorded[-1], 1)

    sessions: list[Path] = []
    collectors: list[subprocess.Popen[bytes]] = []

    def start_collector() -> subprocess.Popen[bytes]:
        sessions.append(tmp_path / f"session-{len(sessions)}.jsonl")
        collectors.append(listen(address, sessions[-1]))
        wait(lambda: sink.connected)  # the sink finds each new collector by itself
        record(300)
        assert sink.flush(30)
        return collectors[-1]

    try:
        for _ in range(2):
            collector = start_collector()
            collector.send_signal(signal.SIGSTOP)  # idle: it acknowledged all it was sent
            lost, sent = sink.lost, sink.sent
            record(200)
            wait(lambda: sink.sent == sent + 200)  # noqa: B023 (into a socket nobody reads)
            collector.send_signal(signal.SIGKILL)
            collector.wait()
            wait(lambda: not sink.connected)
            assert sink.lost == lost + 200
            record(100)  # nobody listens: the buffer keeps them
        start_collector()
    finally:
        sink.close()
        for collector in collectors:
            collector.kill()
            collector.wait()

    received: list[str] = []
    reported: list[ev.EventsDropped] = []
    for session in sessions:
        for event in read_session(session):
            if isinstance(event, ev.ClientDisconnected):
                received.append(event.exchange_id)
            elif isinstance(event, ev.EventsDropped):
                reported.append(event)
    assert sink.dropped == 400
    assert len(received) + sink.dropped == len(recorded)
    kept = set(received)
    assert len(kept) == len(received)  # each once
    assert received == [xid for xid in recorded if xid in kept]  # in order
    assert [(d.count, d.total, d.where) for d in reported] == [
        (200, 200, "sink"),
        (200, 400, "sink"),
    ]
