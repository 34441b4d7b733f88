"""What the headless log (`inspector listen --no-tui`) costs per exchange.

From the repository root (not run by the tests):

    .venv/bin/python bench/console.py
    .venv/bin/python bench/console.py --exchanges 10000 --runs 3

Small synthetic exchanges (RequestStarted with 8 headers, RequestBodyChunk, ResponseStarted
with Content-Type and Content-Length, ResponseBodyChunk, ExchangeFinished: 5 events each,
correct, so the spec checks find nothing, as in most traffic) are built up front, then fed
to a `ConsoleLog` in batches of 100 events, as the bus thread delivers them. Two paths: no
filter (a small summary per running exchange) and `--filter "~c 2xx"` (whole `Exchange`s
folded and filtered). Two sinks: an in-memory stream (`io.StringIO`) and /dev/null (a real file, so
encoding and a write system call per batch). Per exchange, median of the runs:
- caller: CPU time of the feeding thread inside the `ConsoleLog` calls (the bus thread's
  share: folding, formatting, handing lines to the writer);
- CPU: the process's CPU time from the first call until `close()` has written everything
  (the feeding thread and the writer thread together).
Each run checks that no line was dropped (the writer kept up) and that every line came out.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from inspector import events as ev
from tui.console import ConsoleLog

BATCH = 100
HEADERS = (
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"wrk"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip"),
    (b"connection", b"keep-alive"),
    (b"x-request-id", b"0123456789abcdef"),
    (b"cookie", b"session=abc"),
    (b"content-length", b"11"),
)
RESPONSE_HEADERS = ((b"content-type", b"application/json"), (b"content-length", b"1024"))


def exchanges(n: int) -> list[ev.Event]:
    events: list[ev.Event] = []
    wall = 1_700_000_000.0
    for i in range(n):
        xid = f"bench0a1b2c-{i}"
        at = i * 1_000_000
        events += [
            ev.RequestStarted(
                xid,
                at,
                "asgi",
                "http",
                "POST",
                "http",
                "1.1",
                "/api/items/42",
                b"/api/items/42",
                b"page=2",
                HEADERS,
                ("127.0.0.1", 50000 + i % 10000),
                ("127.0.0.1", 8000),
                wall + i / 2000,  # 2,000 exchanges a second
                {},
            ),
            ev.RequestBodyChunk(xid, at + 1, b"hello world", 11, False),
            ev.ResponseStarted(xid, at + 2, 200, RESPONSE_HEADERS, False),
            ev.ResponseBodyChunk(xid, at + 3, b"x" * 64, 1024, False),
            ev.ExchangeFinished(xid, at + 4, "completed", 1, 2, 180_000),
        ]
    return events


def run_once(events: list[ev.Event], filter_text: str, sink: str) -> tuple[float, float]:
    """The caller's CPU seconds in the calls, and process CPU seconds until all was written."""
    stream = io.StringIO() if sink == "StringIO" else open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    log = ConsoleLog(stream, filter_text, color=False)
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    inside = 0.0
    cpu = time.process_time()
    for batch in batches:
        began = time.thread_time()
        log(batch)
        inside += time.thread_time() - began
    log.writer.close(timeout=60)
    cpu = time.process_time() - cpu
    assert log.writer.dropped == 0, f"{log.writer.dropped} lines dropped"
    if isinstance(stream, io.StringIO):
        assert stream.getvalue().count("\n") == len(events) // 5
    stream.close()
    return inside, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    events = exchanges(args.exchanges)
    print(f"{args.exchanges:,} exchanges of 5 events, batches of {BATCH} events, ", end="")
    print(f"median of {args.runs} runs, µs per exchange; Python {sys.version.split()[0]}, ", end="")
    print(f"{os.cpu_count()} CPUs\n")
    print("| path | sink | caller CPU | CPU (both threads) |")
    print("|---|---|---:|---:|")
    for name, filter_text in (("no filter", ""), ("filter `~c 2xx`", "~c 2xx")):
        for sink in ("StringIO", "/dev/null"):
            inside, cpu = [], []
            for _ in range(args.runs):
                a, b = run_once(events, filter_text, sink)
                inside.append(a)
                cpu.append(b)
            per = 1e6 / args.exchanges
            print(
                f"| {name} | {sink} | {statistics.median(inside) * per:.2f} "
                f"| {statistics.median(cpu) * per:.2f} |"
            )


if __name__ == "__main__":
    main()
