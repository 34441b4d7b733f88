"""What capture costs: in-process per request, and throughput under real servers.

    .venv/bin/python bench/capture.py            # full run (~2.5 min)
    .venv/bin/python bench/capture.py --quick    # smoke run

In-process: bare app, a minimal pass-through middleware, and capture, interleaved in rounds;
"capture" is the request path alone, "capture + bus" also waits for the bus thread to build
and deliver every event (its CPU is part of the price). Throughput: uvicorn (ASGI) and
gunicorn (WSGI, sync workers) on 127.0.0.1 driven by wrk (`apt-get install wrk`), bare and
wrapped interleaved, with Starlette's BaseHTTPMiddleware for reference. Medians are printed
as a markdown table; both cores are shared by server and wrk, so CPU use is shown too.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.apps import (  # noqa: E402
    asgi_app,
    asgi_pass_through,
    counted_bus,
    wsgi_app,
    wsgi_pass_through,
)
from inspector import ASGIInspectorMiddleware, EventBus, WSGIInspectorMiddleware  # noqa: E402

SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 51000),
    "scheme": "http",
    "method": "GET",
    "root_path": "",
    "path": "/items",
    "raw_path": b"/items",
    "query_string": b"page=2",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*")]
    + [(b"x-request-%d" % n, b"value") for n in range(5)],
    "state": {},
}
REQUEST = {"type": "http.request", "body": b"", "more_body": False}


def asgi_loop(app: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return REQUEST

    async def send(message: dict[str, Any]) -> None:
        pass

    async def loop() -> float:
        start = time.perf_counter()
        for _ in range(n):
            await app(SCOPE, receive, send)
        return time.perf_counter() - start

    return asyncio.run(loop())


def wsgi_loop(app: Any, n: int) -> float:
    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/items",
        "QUERY_STRING": "page=2",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": "11",
        "CONTENT_TYPE": "application/json",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench/1.0",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
    }

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        return lambda data: None

    start = time.perf_counter()
    for _ in range(n):
        environ = {**base, "wsgi.input": io.BytesIO(b'{"a": "b"}\n')}
        result = app(environ, start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return time.perf_counter() - start


def in_process(rounds: int, n: int) -> list[tuple[str, float, float, float, float]]:
    rows = []
    for protocol, loop, bare, pass_through, capture in (
        ("ASGI", asgi_loop, asgi_app, asgi_pass_through, ASGIInspectorMiddleware),
        ("WSGI", wsgi_loop, wsgi_app, wsgi_pass_through, WSGIInspectorMiddleware),
    ):
        bus: EventBus = counted_bus()
        captured = capture(bare, bus=bus)  # type: ignore[operator]
        samples: dict[str, list[float]] = {k: [] for k in ("bare", "pass", "path", "total")}
        for _ in range(rounds):
            samples["bare"].append(loop(bare, n))
            samples["pass"].append(loop(pass_through(bare), n))
            bus.flush(60)
            samples["path"].append(loop(captured, n))
            bus.flush(60)
            start = time.perf_counter()
            loop(captured, n)
            bus.flush(60)
            samples["total"].append(time.perf_counter() - start)
        assert bus.stats().dropped == 0, bus.stats()
        ns = {k: statistics.median(v) / n * 1e9 for k, v in samples.items()}
        rows.append((protocol, ns["bare"], ns["pass"], ns["path"], ns["total"]))
    return rows


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    return sum(cpu_seconds(p) for p in pids if Path(f"/proc/{p}").exists())


def serve(kind: str, target: str, port: int) -> subprocess.Popen[bytes]:
    if kind == "uvicorn":
        argv = [
            "-m",
            "uvicorn",
            target,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    else:
        argv = [
            "-m",
            "gunicorn",
            target,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--log-level",
            "warning",
        ]
    process = subprocess.Popen([sys.executable, *argv], cwd=ROOT)
    deadline = time.monotonic() + 20
    while subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"]).returncode:
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{target} did not start")
        time.sleep(0.1)
    return process


def wrk(port: int, seconds: int, connections: int, server_pid: int) -> tuple[float, float]:
    cpu_before, start = tree_cpu(server_pid), time.monotonic()
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = (tree_cpu(server_pid) - cpu_before) / (time.monotonic() - start)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1)), cpu


def throughput(rounds: int, seconds: int) -> list[tuple[str, str, float, float, float]]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    plans = [
        (
            "uvicorn",
            32,
            {
                "bare": "bench.apps:asgi_app",
                "capture": "bench.apps:asgi_captured",
                "BaseHTTPMiddleware": "bench.apps:asgi_base_http",
            },
        ),
        (
            "gunicorn -w 2",
            8,
            {"bare": "bench.apps:wsgi_app", "capture": "bench.apps:wsgi_captured"},
        ),
    ]
    rows = []
    for server, connections, targets in plans:
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
        for _ in range(rounds):
            for name, target in targets.items():
                process = serve(server.split()[0], target, 8199)
                try:
                    wrk(8199, 1, connections, process.pid)  # warm up
                    results[name].append(wrk(8199, seconds, connections, process.pid))
                finally:
                    process.terminate()
                    process.wait()
        bare = statistics.median(r for r, _ in results["bare"])
        for name, runs in results.items():
            rate = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            rows.append((server, name, rate, rate / bare, cpu))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, n, seconds = (3, 2000, 2) if args.quick else (7, 20000, 5)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {rounds} interleaved rounds\n")
    print(
        "| in-process, ns/request | bare | pass-through | capture (request path)"
        " | capture + bus thread | capture + bus - bare |"
    )
    print("|---|---|---|---|---|---|")
    for protocol, bare, passed, path, total in in_process(rounds, n):
        cells = (bare, passed, path, total, total - bare)
        print(f"| {protocol} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")
    print("\n| server | app | req/s | vs bare | server CPU (cores) |")
    print("|---|---|---|---|---|")
    for server, name, rate, ratio, cpu in throughput(3 if not args.quick else 1, seconds):
        print(f"| {server} | {name} | {rate:,.0f} | {ratio:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
