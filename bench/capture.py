"""What capture costs: in-process per request, and throughput under real servers.

From the repository root, after `bash scripts/test.sh` has made `.venv` (not run by the tests):

    .venv/bin/python bench/capture.py                # full run, about 4 minutes
    .venv/bin/python bench/capture.py --quick        # smoke run, under a minute
    .venv/bin/python bench/capture.py --in-process-only --breakdown

In-process: a hello app (reads the request, answers 5 headers and an 11-byte body) called in a
tight loop, as bare, behind a minimal pass-through middleware, and behind capture; GET, and a
POST whose 11-byte body the app reads. Variants are interleaved in rounds; medians are kept.
Capture is timed twice:
- "request path": the bus stopped, so only the app's own thread runs (it makes the records
  and appends them to the bus queue). Cross-checked by that thread's CPU time with the bus
  live, printed as "request path with the bus live";
- "+ bus thread": a live bus with a counting subscriber; the clock stops when the subscriber
  has the last event, so building and delivering every event is included.
`--breakdown` also times the bus thread's work per kind of record.

Throughput: uvicorn (one worker) and gunicorn (sync, one worker) on 127.0.0.1, driven by wrk
over loopback (it must be on PATH: `apt-get install -y wrk`), the app variants interleaved
over several rounds. The capture servers have a counting subscriber on their bus and report
at exit how many events it got and how many were dropped, so the bus thread is known to have
kept up. Server and wrk CPU are measured too (2 cores here: who was the bottleneck?).

The last thing printed is one markdown table, for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import io
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.apps import (  # noqa: E402
    asgi_app,
    asgi_pass_through,
    counted_bus,
    wsgi_app,
    wsgi_pass_through,
)
from inspector import ASGIInspectorMiddleware, EventBus, WSGIInspectorMiddleware  # noqa: E402

TARGET_NS = 2000
TARGET_RATIO = {"uvicorn": 0.95, "gunicorn": 0.90}
POST_BODY = b'{"a": "b"}\n'  # 11 bytes

# -- in-process ------------------------------------------------------------------------------


def asgi_scope(method: str) -> dict[str, Any]:
    """A scope shaped like uvicorn's, 8 request headers."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"bench/1.0"),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"connection", b"keep-alive"),
        (b"x-request-id", b"4f0c2b9e"),
    ]
    if method == "POST":
        headers += [(b"content-type", b"application/json"), (b"content-length", b"11")]
    else:
        headers += [(b"cookie", b"session=abc123"), (b"x-forwarded-for", b"10.0.0.1")]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 51000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": "/items",
        "raw_path": b"/items",
        "query_string": b"page=2",
        "headers": headers,
        "state": {},
    }


def wsgi_environ(method: str) -> dict[str, Any]:
    """An environ shaped like gunicorn's (same keys), 8 request headers."""
    environ: dict[str, Any] = {
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": io.BufferedReader,  # a class, as gunicorn's FileWrapper
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": "gunicorn/23.0.0",
        "REQUEST_METHOD": method,
        "QUERY_STRING": "page=2",
        "RAW_URI": "/items?page=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench/1.0",
        "HTTP_ACCEPT": "*/*",
        "HTTP_ACCEPT_ENCODING": "gzip, deflate",
        "HTTP_CONNECTION": "keep-alive",
        "HTTP_X_REQUEST_ID": "4f0c2b9e",
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "51000",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "PATH_INFO": "/items",
        "SCRIPT_NAME": "",
    }
    if method == "POST":
        environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH="11")
    else:
        environ.update(HTTP_COOKIE="session=abc123", HTTP_X_FORWARDED_FOR="10.0.0.1")
    return environ


# A runner calls `app` n times as a server would: wall seconds and this thread's CPU seconds.
Runner = Callable[[Any, int], tuple[float, float, float]]


def asgi_runner(method: str) -> Runner:
    scope = asgi_scope(method)
    request = {"type": "http.request", "body": POST_BODY if method == "POST" else b""}
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        pass

    async def calls(app: Any, n: int) -> tuple[float, float, float]:
        cpu, start = time.thread_time(), time.perf_counter()
        for _ in range(n):
            await app(scope, receive, send)
        end = time.perf_counter()
        return start, end, time.thread_time() - cpu

    def run(app: Any, n: int) -> tuple[float, float, float]:
        return loop.run_until_complete(calls(app, n))

    return run


def wsgi_runner(method: str) -> Runner:
    base = wsgi_environ(method)
    body = POST_BODY if method == "POST" else b""
    bytes_io = io.BytesIO

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return write

    def write(data: bytes) -> None:
        pass

    def run(app: Any, n: int) -> tuple[float, float, float]:
        cpu, start = time.thread_time(), time.perf_counter()
        for _ in range(n):
            environ = base.copy()  # the app and capture both change it
            environ["wsgi.input"] = bytes_io(body)
            result = app(environ, start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        end = time.perf_counter()
        return start, end, time.thread_time() - cpu

    return run


VARIANTS = ("bare", "pass-through", "capture", "capture + bus")


@dataclass
class InProcessRow:
    protocol: str
    method: str
    events: float  # per request, as delivered by the live bus
    ns: dict[str, float] = field(default_factory=dict)
    live_path_ns: float = 0.0  # this thread's CPU during the "capture + bus" runs


CASES: list[tuple[str, Callable[[str], Runner], Any, Any, Any]] = [
    ("ASGI", asgi_runner, asgi_app, asgi_pass_through, ASGIInspectorMiddleware),
    ("WSGI", wsgi_runner, wsgi_app, wsgi_pass_through, WSGIInspectorMiddleware),
]


def in_process(rounds: int, n: int) -> list[InProcessRow]:
    rows = []
    for protocol, make_runner, bare, pass_through, middleware in CASES:
        for method in ("GET", "POST"):
            run = make_runner(method)
            row = in_process_case(run, rounds, n, bare, pass_through(bare), middleware)
            row.protocol, row.method = protocol, method
            rows.append(row)
            print(
                f"  {protocol} {method}: "
                + ", ".join(f"{v} {row.ns[v]:,.0f}" for v in VARIANTS)
                + f" ns/request (request path with the bus live: {row.live_path_ns:,.0f});"
                f" {row.events:g} events/request",
                flush=True,
            )
    return rows


def in_process_case(
    run: Runner, rounds: int, n: int, bare: Any, passed: Any, middleware: Any
) -> InProcessRow:
    live_bus, counter = counted_bus()
    live = middleware(bare, bus=live_bus)
    live_cpu: list[float] = []

    def sample(variant: str) -> float:
        gc.collect()
        if variant == "bare":
            start, end, _ = run(bare, n)
        elif variant == "pass-through":
            start, end, _ = run(passed, n)
        elif variant == "capture":
            # A stopped bus: records pile up (none is dropped) and no other thread runs.
            stopped = EventBus(capacity=1 << 40)
            stopped.close()
            start, end, _ = run(middleware(bare, bus=stopped), n)
            del stopped
        else:
            # A live bus: stop the clock when the subscriber has the last event (a flush
            # would add up to the bus thread's idle poll interval).
            live_bus.flush(60)
            start, end, cpu = run(live, n)
            if not live_bus.flush(60):
                raise SystemExit("the bus did not drain in 60 s")
            end = max(end, counter.last)
            live_cpu.append(cpu / n * 1e9)
        return (end - start) / n * 1e9

    run(bare, n // 10 + 1)  # warm up
    run(live, n // 10 + 1)
    live_bus.flush(60)
    before = counter.events
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        for variant in VARIANTS[r % 4 :] + VARIANTS[: r % 4]:
            samples[variant].append(sample(variant))
    stats = live_bus.stats()
    if stats.dropped or stats.capture_errors or stats.subscriber_errors:
        raise SystemExit(f"the bus was not clean: {stats}")
    live_bus.close()
    row = InProcessRow("", "", (counter.events - before) / (rounds * n))
    row.ns = {v: statistics.median(s) for v, s in samples.items()}
    row.live_path_ns = statistics.median(live_cpu)
    return row


class RecordingBus(EventBus):
    """Keeps every record (factory and arguments) instead of queueing it."""

    def __init__(self) -> None:
        super().__init__()
        self.close()
        self.records: list[tuple[Any, ...]] = []

    def record(self, *record: Any) -> None:
        self.records.append(record)


def breakdown(n: int) -> None:
    """Where the bus thread's time goes: each kind of record built alone, ns per record."""
    print("Bus thread, building each kind of record (ns; POST requests, gc off while timed):")
    for protocol, make_runner, bare, _, middleware in CASES:
        bus = RecordingBus()
        make_runner("POST")(middleware(bare, bus=bus), n)
        kinds: dict[str, list[tuple[Any, ...]]] = {}
        for record in bus.records:
            name = getattr(record[0], "__name__", repr(record[0]))
            if name == "cut":  # cut(cls, ...) builds a body chunk
                name = record[1].__name__
            kinds.setdefault(name, []).append(record)
        total = 0.0
        for name, records in kinds.items():
            times = []
            for _ in range(5):
                gc.collect()
                gc.disable()
                start = time.perf_counter()
                for factory, *args in records:
                    factory(*args)
                times.append((time.perf_counter() - start) / len(records) * 1e9)
                gc.enable()
            ns = statistics.median(times)
            total += ns * len(records) / n
            print(f"  {protocol} {name}: {ns:,.0f} x {len(records) / n:g}/request")
        print(f"  {protocol} total: {total:,.0f} ns/request", flush=True)


# -- throughput ------------------------------------------------------------------------------


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(
            "wrk (the load generator) is not on PATH: install it (Debian/Ubuntu: "
            "`apt-get update && apt-get install -y wrk`), or run with --in-process-only"
        )
    return wrk


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a live process, 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and its descendants (gunicorn forks its workers), from /proc/*/stat."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found += frontier
    return found


@dataclass
class Server:
    kind: str  # "uvicorn" or "gunicorn"
    variant: str
    target: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def start(self, stats_dir: str) -> None:
        if self.kind == "uvicorn":
            argv = ["-m", "uvicorn", "--factory", self.target, "--host", "127.0.0.1"]
            argv += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        else:
            argv = ["-m", "gunicorn", self.target, "-b", f"127.0.0.1:{self.port}"]
            argv += ["-w", "1", "-k", "sync", "--log-level", "warning", "--no-control-socket"]
        env = {**os.environ, "BENCH_STATS_DIR": stats_dir, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env)

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.kind} {self.target} exited at start")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/")
                response = connection.getresponse()
                body = response.read()
                connection.close()
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{self.kind} {self.target} did not start in 30 s") from None
                time.sleep(0.1)
                continue
            if response.status != 200 or body != b"hello world":
                raise SystemExit(f"{self.target} answered {response.status} {body!r}")
            self.requests += 1
            break
        self.pids = descendants(self.process.pid)

    def cpu(self) -> float:
        return sum(proc_cpu(pid) for pid in self.pids)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


WRK_REQUESTS = re.compile(r"(\d+) requests in")
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_ERRORS = re.compile(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)")


@dataclass
class Run:
    rate: float  # requests/s
    cpu: float  # server CPU, cores
    wrk_cpu: float  # wrk CPU, cores
    cpu_us: float  # server CPU per request, µs


def wrk_run(wrk: str, server: Server, seconds: float, connections: int) -> Run:
    """One wrk run, with the server's and wrk's CPU use over its duration."""
    url = f"http://127.0.0.1:{server.port}/"
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", url]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the servers are not reaped yet
    cpu, start = server.cpu(), time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    server_cpu = server.cpu() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    rate, total = WRK_RATE.search(result.stdout), WRK_REQUESTS.search(result.stdout)
    if result.returncode or rate is None or total is None:
        raise SystemExit(f"wrk failed against {server.target}:\n{result.stdout}{result.stderr}")
    requests = int(total.group(1))
    server.requests += requests
    server.errors += WRK_ERRORS.findall(result.stdout)
    return Run(
        float(rate.group(1)),
        server_cpu / elapsed,
        wrk_cpu / elapsed,
        server_cpu / max(requests, 1) * 1e6,
    )


@dataclass
class ThroughputRow:
    kind: str
    variant: str
    rate: float  # median requests/s
    ratio: float  # median over rounds of (this variant / bare in the same round)
    ratio_range: tuple[float, float]
    cpu: float  # median server CPU, cores
    wrk_cpu: float  # median wrk CPU, cores
    cpu_us: float  # median server CPU per request, µs
    note: str


PLANS = [
    (
        "uvicorn",
        32,
        {
            "bare": "bench.apps:asgi_bare",
            "pass-through": "bench.apps:asgi_passed",
            "capture": "bench.apps:asgi_captured",
            "BaseHTTPMiddleware": "bench.apps:asgi_base_http",
        },
    ),
    (
        "gunicorn",
        4,
        {"bare": "bench.apps:wsgi_bare()", "capture": "bench.apps:wsgi_captured()"},
    ),
]


def throughput(rounds: int, seconds: float) -> list[ThroughputRow]:
    wrk = find_wrk()
    rows: list[ThroughputRow] = []
    port = 18100
    for kind, connections, targets in PLANS:
        with tempfile.TemporaryDirectory(prefix="bench-capture-") as stats_dir:
            servers = []
            for variant, target in targets.items():
                servers.append(Server(kind, variant, target, port))
                port += 1
            try:
                for server in servers:
                    server.start(stats_dir)
                for server in servers:
                    server.wait_ready()
                for server in servers:  # warm up
                    wrk_run(wrk, server, 1, connections)
                for r in range(rounds):
                    for server in servers[r % len(servers) :] + servers[: r % len(servers)]:
                        server.runs.append(wrk_run(wrk, server, seconds, connections))
            finally:
                for server in servers:
                    server.stop()
            bare = servers[0].runs
            for server in servers:
                note = bus_note(server, stats_dir)
                if server.errors:
                    note += "; wrk: " + ", ".join(sorted(set(server.errors)))
                runs = server.runs
                ratios = [
                    run.rate / bare_run.rate for run, bare_run in zip(runs, bare, strict=True)
                ]
                row = ThroughputRow(
                    kind,
                    server.variant,
                    statistics.median(run.rate for run in runs),
                    statistics.median(ratios),
                    (min(ratios), max(ratios)),
                    statistics.median(run.cpu for run in runs),
                    statistics.median(run.wrk_cpu for run in runs),
                    statistics.median(run.cpu_us for run in runs),
                    note,
                )
                rows.append(row)
                print(
                    f"  {kind} {server.variant}: {row.rate:,.0f} req/s"
                    f" (runs {', '.join(f'{run.rate:,.0f}' for run in runs)});"
                    f" vs bare in the same round {row.ratio:.1%}"
                    f" ({row.ratio_range[0]:.0%}-{row.ratio_range[1]:.0%});"
                    f" server {row.cpu:.2f} cores, {row.cpu_us:,.0f} µs CPU/request;"
                    f" wrk {row.wrk_cpu:.2f} cores" + (f"; {note}" if note else ""),
                    flush=True,
                )
    return rows


def bus_note(server: Server, stats_dir: str) -> str:
    """For a capture server: what its bus delivered, checked against the requests served."""
    if server.variant != "capture":
        return ""
    pids = {str(pid) for pid in server.pids}
    reports = [json.loads(p.read_text()) for p in Path(stats_dir).glob("*.json") if p.stem in pids]
    if not reports:
        raise SystemExit(f"{server.target}: no bus report at exit (did the server exit cleanly?)")
    delivered = sum(r["delivered"] for r in reports)
    batches = sum(r["batches"] for r in reports)
    dropped = sum(r["dropped"] for r in reports)
    errors = sum(r["capture_errors"] + r["subscriber_errors"] for r in reports)
    if dropped or errors:
        raise SystemExit(f"{server.target}: bus dropped {dropped}, {errors} errors: {reports}")
    return (
        f"bus delivered {delivered / server.requests:.2f} events/request"
        f" in batches of {delivered / max(batches, 1):,.1f}, none dropped"
    )


# -- report ----------------------------------------------------------------------------------


def bottleneck(cpu: float, wrk_cpu: float) -> str:
    """The servers run one worker process, so one core is all the server can use."""
    if cpu >= 0.9:
        return "server-bound"
    if wrk_cpu >= 0.9:
        return "wrk-bound"
    if cpu + wrk_cpu >= 0.9 * (os.cpu_count() or 1):
        return "both cores busy"
    return "neither CPU-bound"


def table(
    in_rows: list[InProcessRow],
    out_rows: list[ThroughputRow],
    rounds: int,
    n: int,
    server_rounds: int,
) -> str:
    lines = [
        "| measurement | bare | pass-through | capture | BaseHTTPMiddleware"
        " | capture cost | target | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in in_rows:
        bare, passed = row.ns["bare"], row.ns["pass-through"]
        for variant, label in (("capture", "request path"), ("capture + bus", "+ bus thread")):
            cost = row.ns[variant] - bare
            extra = ""
            if variant == "capture":
                extra = f"; with the bus live, this thread's CPU: {row.live_path_ns:,.0f} ns"
            lines.append(
                f"| {row.protocol} {row.method} in-process, {label} (ns/request)"
                f" | {bare:,.0f} | {passed:,.0f} | {row.ns[variant]:,.0f} | n/a"
                f" | +{cost:,.0f} ns (+{row.ns[variant] - passed:,.0f} vs pass-through)"
                f" | <= {TARGET_NS:,} ns: {'met' if cost <= TARGET_NS else 'MISSED'}"
                f" | {row.events:g} events/request; median of {rounds} x {n:,} calls{extra} |"
            )
    by_kind: dict[str, dict[str, ThroughputRow]] = {}
    for t in out_rows:
        by_kind.setdefault(t.kind, {})[t.variant] = t
    for kind, variants in by_kind.items():
        connections = next(c for k, c, _ in PLANS if k == kind)
        workers = "1 worker" if kind == "uvicorn" else "sync, 1 worker"
        cells = []
        for variant in ("bare", "pass-through", "capture", "BaseHTTPMiddleware"):
            got = variants.get(variant)
            cells.append("n/a" if got is None else f"{got.rate:,.0f} ({got.ratio:.0%})")
        base, capture = variants["bare"], variants["capture"]
        target = TARGET_RATIO[kind]
        met = "met" if capture.ratio >= target else "MISSED"
        low, high = capture.ratio_range
        cpu = ", ".join(f"{v} {t.cpu:.2f}/{t.wrk_cpu:.2f}" for v, t in variants.items())
        lines.append(
            f"| {kind} ({workers}), wrk -t1 -c{connections} (req/s)"
            f" | {' | '.join(cells)}"
            f" | {capture.ratio:.1%} of bare (rounds {low:.0%}-{high:.0%});"
            f" server CPU +{capture.cpu_us - base.cpu_us:,.0f} µs/request"
            f" ({base.cpu_us:,.0f} -> {capture.cpu_us:,.0f})"
            f" | >= {target:.0%}: {met}"
            f" | {bottleneck(capture.cpu, capture.wrk_cpu)} (CPU cores server/wrk: {cpu});"
            f" {capture.note}; median of {server_rounds} rounds |"
        )
    return "\n".join(lines)


def uvicorn_impl() -> str:
    def has(module: str) -> bool:
        try:
            __import__(module)
        except ImportError:
            return False
        return True

    return (
        f"{'uvloop' if has('uvloop') else 'asyncio'}/{'httptools' if has('httptools') else 'h11'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--in-process-only", action="store_true", help="no servers, no wrk")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time the bus thread's work per record kind"
    )
    args = parser.parse_args()
    rounds, n = (3, 2_000) if args.quick else (7, 20_000)
    server_rounds, seconds = (2, 1) if args.quick else (10, 3)
    if not args.in_process_only:
        find_wrk()  # fail before spending a minute in-process
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()};"
        f" uvicorn {uvicorn_impl()}",
        flush=True,
    )
    print(f"In-process: {rounds} interleaved rounds of {n:,} calls per variant", flush=True)
    in_rows = in_process(rounds, n)
    if args.breakdown:
        breakdown(n)
    out_rows: list[ThroughputRow] = []
    if not args.in_process_only:
        print(
            f"Throughput: {server_rounds} interleaved rounds of wrk -t1 -d{seconds}s"
            " per server, after a 1 s warm-up",
            flush=True,
        )
        out_rows = throughput(server_rounds, seconds)
    print()
    print(table(in_rows, out_rows, rounds, n, server_rounds))


if __name__ == "__main__":
    main()
