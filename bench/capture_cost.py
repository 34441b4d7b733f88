"""Does the capture cost each exchange reports match what wrapping really costs? A short check.

    .venv/bin/python bench/capture_cost.py            # about 20 seconds
    .venv/bin/python bench/capture_cost.py --calls 2000 --rounds 3

The hello app (reads the request, answers 2 headers and 11 bytes) is called in a tight loop as
a server would, bare and wrapped, ASGI (a uvicorn-shaped scope) and WSGI (a gunicorn-shaped
environ), interleaved over rounds. The wrapped app records into a `RecordBuffer` drained
between rounds (the encode is paid in the call, as with a real sink; shipping is not). Per
request it prints: the measured difference (wrapped - bare wall time, median over rounds), and
the capture cost the exchanges reported themselves (`ExchangeFinished.capture_ns`: two clock
reads around each record, summed in the request's closure), and their ratio. The reported cost
leaves out what no clock inside capture sees (the wrapping coroutines' own frames, the scope
copy's allocation), so it is expected to be a part of the measured difference, not all of it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspector import ASGIInspectorMiddleware, WSGIInspectorMiddleware  # noqa: E402
from inspector import records as rec  # noqa: E402

BODY = b"hello world"


async def asgi_hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def wsgi_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")])
    return [BODY]


def _scope() -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


def _environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
    }


def asgi_loop(app: Any, calls: int) -> int:
    """Wall nanoseconds for `calls` requests through `app`, on one event loop."""
    scope = _scope()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def run() -> int:
        start = time.perf_counter_ns()
        for _ in range(calls):
            await app(dict(scope), receive, send)
        return time.perf_counter_ns() - start

    return asyncio.run(run())


def wsgi_loop(app: Any, calls: int) -> int:
    def start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
        return lambda data: None

    start = time.perf_counter_ns()
    for _ in range(calls):
        for _chunk in app(_environ(), start_response):
            pass
    return time.perf_counter_ns() - start


def reported(buffer: rec.RecordBuffer) -> list[int]:
    """The capture costs the exchanges reported, draining the buffer."""
    costs = []
    for data in buffer.take(1 << 40):
        record = rec.decode_record(data)
        if isinstance(record, rec.Finished) and record.cost >= 0:
            costs.append(record.cost)
    return costs


def measure(name: str, loop: Callable[[Any, int], int], bare: Any, wrap: Any, args: Any) -> str:
    buffer = rec.RecordBuffer(capacity=10 * args.calls, max_bytes=1 << 30)
    wrapped = wrap(bare, bus=buffer)
    diffs, costs = [], []
    loop(bare, 200)  # warm up both
    loop(wrapped, 200)
    reported(buffer)
    for _ in range(args.rounds):
        gc.collect()
        plain = loop(bare, args.calls)
        gc.collect()
        captured = loop(wrapped, args.calls)
        diffs.append((captured - plain) / args.calls)
        costs.extend(reported(buffer))
    measured = statistics.median(diffs)
    cost = statistics.median(costs)
    return (
        f"| {name} | {measured / 1000:.2f} us ({min(diffs) / 1000:.2f}-{max(diffs) / 1000:.2f}) "
        f"| {cost / 1000:.2f} us | {cost / measured:.0%} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.monotonic()
    rows = [
        measure("ASGI GET", asgi_loop, asgi_hello, ASGIInspectorMiddleware, args),
        measure("WSGI GET", wsgi_loop, wsgi_hello, WSGIInspectorMiddleware, args),
    ]
    print("| app | wrapped - bare, per request (range) | reported capture cost | share |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n{args.rounds} rounds of {args.calls} calls, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
