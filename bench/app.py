"""What capture costs an app, with a live `inspector listen --no-tui --save FILE` attached.

From the repository root, after `bash bench/setup.sh`:

    .venv/bin/python bench/app.py            # full run, about 5 minutes
    .venv/bin/python bench/app.py --quick    # smoke run, about a minute

1. In-process: a hello app (reads the request, answers 5 headers and 11 bytes) called in a
   tight loop as a server would, bare, behind a minimal pass-through middleware, and behind
   the capture middleware whose sink streams to a live `inspector listen --no-tui --save`
   (stdout to /dev/null): ASGI with a uvicorn-shaped scope (10 request headers), WSGI with a
   gunicorn-shaped environ (27 keys, a socket and a file-wrapper class among them), GET and
   an 11-byte POST. Measured: the app process's CPU time per request: the calling thread's
   CPU over the calls, plus the sink thread's CPU from their start until the listener
   acknowledged every record (per-thread CPU clocks; the bench's own waiting is left out).
   Variants are interleaved over rounds; median and range of (capture - bare) per round.
   Then the listener must have saved an `ExchangeFinished` for every captured call.
2. Throughput: uvicorn (1 worker, `wrk -t1 -c32`) and gunicorn (sync, 1 worker, `wrk -t1
   -c4`) serving the hello app bare, and wrapped (`INSPECTOR_BUS` pointing at a live
   `inspector listen --no-tui --save`), the four interleaved over rounds; medians, and the
   median over rounds of (wrapped / bare in the same round). After each wrapped run the bench
   waits for the listener to catch up and checks that its session holds an `ExchangeFinished`
   for every request wrk counted (plus at most the few in flight when wrk stopped) and that
   no loss was reported. CPU shares of server, listener and wrk say which was CPU-bound; the
   listener's CPU per exchange is its CPU time from the run's start until it caught up,
   divided by the exchanges it saved.

The end of the output is markdown for the README, then the command lines that ran.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.common import BIN, Listener, Processes, median, spread, table, verdict  # noqa: E402
from bench.hello import asgi_app, wsgi_app  # noqa: E402

POST_BODY = b'{"a": "b"}\n'
TARGET_US = {"ASGI": 2.0, "WSGI": 2.5}
TARGET_RATIO = {"uvicorn": 0.95, "gunicorn": 0.90}
CONNECTIONS = {"uvicorn": 32, "gunicorn": 4}

# -- in-process --------------------------------------------------------------------------------

_REQUEST_HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-GB,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"connection", b"keep-alive"),
    (b"cookie", b"session=4f0c2b9e7d1a; theme=dark"),
    (b"x-request-id", b"9b2f6c1e-5d3a-4e8b-a7c9-0f1e2d3c4b5a"),
]


def asgi_scope(method: str) -> dict[str, Any]:
    """A scope as uvicorn (h11) builds one: 10 request headers."""
    headers = list(_REQUEST_HEADERS)
    if method == "POST":
        headers += [(b"content-type", b"application/json"), (b"content-length", b"11")]
    else:
        headers += [(b"upgrade-insecure-requests", b"1"), (b"priority", b"u=0, i")]
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


def gunicorn_environ(method: str, sock: socket.socket) -> dict[str, Any]:
    """An environ as gunicorn's sync worker builds one (27 keys; `wsgi.input` per call)."""
    from gunicorn.http.wsgi import FileWrapper

    environ: dict[str, Any] = {
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": "gunicorn/27.0.1",
        "gunicorn.socket": sock,
        "REQUEST_METHOD": method,
        "QUERY_STRING": "page=2",
        "RAW_URI": "/items?page=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "51000",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "PATH_INFO": "/items",
        "SCRIPT_NAME": "",
    }
    for name, value in _REQUEST_HEADERS[:6]:
        key = "HTTP_" + name.decode().upper().replace("-", "_")
        environ[key] = value.decode()
    if method == "POST":
        environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH="11")
    return environ


Runner = Callable[[Any, int], None]


def asgi_runner(method: str) -> Runner:
    scope = asgi_scope(method)
    request = {"type": "http.request", "body": POST_BODY if method == "POST" else b""}
    request["more_body"] = False
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        pass

    async def calls(app: Any, n: int) -> None:
        for _ in range(n):
            await app(scope, receive, send)

    return lambda app, n: loop.run_until_complete(calls(app, n))


def wsgi_runner(method: str) -> Runner:
    base = gunicorn_environ(method, socket.socket())
    body = POST_BODY if method == "POST" else b""

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return write

    def write(data: bytes) -> None:
        pass

    def run(app: Any, n: int) -> None:
        for _ in range(n):
            environ = base.copy()
            environ["wsgi.input"] = io.BytesIO(body)
            result = app(environ, start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return run


def asgi_pass_through(app: Any) -> Any:
    """The least a pure ASGI middleware that sees every message does."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        async def inner_receive() -> Any:
            return await receive()

        async def inner_send(message: Any) -> None:
            await send(message)

        await app(scope, inner_receive, inner_send)

    return middleware


def wsgi_pass_through(app: Any) -> Any:
    """The least a WSGI middleware that sees the response does."""

    def middleware(environ: Any, start_response: Any) -> Any:
        def inner_start_response(*args: Any) -> Any:
            return start_response(*args)

        return app(environ, inner_start_response)

    return middleware


VARIANTS = ("bare", "pass-through", "capture")


class SinkClock:
    """The sink's thread CPU, read by its clock; `flush()` waits until the listener has
    acknowledged every record, so a sample holds all the sink did for its calls."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        thread = next(t for t in threading.enumerate() if t.name == "inspector-sink")
        self.clock = time.pthread_getcpuclockid(thread.ident)  # type: ignore[arg-type]

    def sample(self, run: Runner, app: Any, n: int) -> tuple[float, float]:
        """µs per call: the calling thread's CPU, and the sink thread's."""
        gc.collect()
        app_cpu, sink_cpu = time.thread_time(), time.clock_gettime(self.clock)
        run(app, n)
        app_cpu = time.thread_time() - app_cpu
        if not self.sink.flush(120):
            raise SystemExit(f"the listener did not acknowledge: {self.sink.last_error}")
        sink_cpu = time.clock_gettime(self.clock) - sink_cpu
        return app_cpu / n * 1e6, sink_cpu / n * 1e6


def in_process(processes: Processes, rounds: int, n: int) -> str:
    from inspector import ASGIInspectorMiddleware, WSGIInspectorMiddleware, runtime

    listener = Listener(processes, "in-process")
    os.environ["INSPECTOR_BUS"] = listener.address  # what a user exports
    sink = runtime.default_sink()
    assert sink is not None
    while not sink.connected:
        time.sleep(0.01)
    clock = SinkClock(sink)
    cases = [
        (
            f"ASGI {method}",
            asgi_runner(method),
            asgi_app,
            asgi_pass_through,
            ASGIInspectorMiddleware,
        )
        for method in ("GET", "POST")
    ] + [
        (
            f"WSGI {method}",
            wsgi_runner(method),
            wsgi_app,
            wsgi_pass_through,
            WSGIInspectorMiddleware,
        )
        for method in ("GET", "POST")
    ]
    rows, captured, observer_cpu = [], 0, common.cpu_seconds(listener.process.pid)
    for case, run, bare, pass_through, middleware in cases:
        apps = {"bare": bare, "pass-through": pass_through(bare), "capture": middleware(bare)}
        run(apps["capture"], n // 10)  # warm up
        captured += n // 10 + rounds * n
        us: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        app_thread: list[float] = []  # the capture variant's calling thread alone
        for _, order in common.rotations(VARIANTS, rounds):
            common.wait_quiet()
            for variant in order:
                app_us, sink_us = clock.sample(run, apps[variant], n)
                us[variant].append(app_us + sink_us)
                if variant == "capture":
                    app_thread.append(app_us)
        added = [c - b for c, b in zip(us["capture"], us["bare"], strict=True)]
        target = TARGET_US[case[:4]]
        print(f"  {case}: capture - bare {median(added):+.2f} µs", flush=True)
        rows.append(
            [case]
            + [f"{median(us[variant]):.2f}" for variant in VARIANTS]
            + [f"{median(app_thread):.2f}", f"+{median(added):.2f} ({spread(added)})"]
            + [f"+{target:g}: {verdict(median(added) <= target)}"]
        )
    saved = listener.session.settle(captured)
    observer_cpu = common.cpu_seconds(listener.process.pid) - observer_cpu
    check = (
        f"The listener saved {saved:,} exchanges for {captured:,} captured calls "
        f"({'all arrived' if saved == captured else '**not all arrived**'}); the sink dropped "
        f"{sink.dropped}, capture failures {sink.buffer.failures}, losses reported in the "
        f"session {listener.session.dropped}. The listener used {observer_cpu / saved * 1e6:.1f}"
        f" µs CPU per exchange (bursts of {n:,})."
    )
    sink.close()
    del os.environ["INSPECTOR_BUS"]
    header = ["µs CPU per request (app thread + sink thread)", *VARIANTS, "capture: app thread"]
    header += [f"capture - bare, median (range, {rounds} rounds)", "target"]
    return table(header, rows) + "\n\n" + check


# -- throughput --------------------------------------------------------------------------------


def server_argv(kind: str, captured: bool, port: int) -> list[str | Path]:
    if kind == "uvicorn":
        target = "bench.hello:asgi_captured" if captured else "bench.hello:asgi_app"
        argv: list[str | Path] = [BIN / "uvicorn", *(["--factory"] if captured else []), target]
        return [*argv, "--port", str(port), "--log-level", "warning", "--no-access-log"]
    target = "bench.hello:wsgi_captured()" if captured else "bench.hello:wsgi_app"
    argv = [BIN / "gunicorn", target, "-b", f"127.0.0.1:{port}", "-w", "1", "-k", "sync"]
    return [*argv, "--log-level", "warning", "--no-control-socket"]


class Variant:
    """One server, bare or wrapped (then with a listener of its own), and its runs."""

    def __init__(self, processes: Processes, kind: str, captured: bool) -> None:
        self.kind, self.connections = kind, CONNECTIONS[kind]
        self.name = f"{kind} + listen" if captured else kind
        self.listener = Listener(processes, f"{kind}-listen") if captured else None
        env = {"INSPECTOR_BUS": self.listener.address} if self.listener else {}
        self.port = common.free_port()
        self.server = processes.start(server_argv(kind, captured, self.port), kind, env)
        self.rps: list[float] = []
        self.shares: list[dict[str, float]] = []
        self.observer_us: list[float] = []
        self.server_us: list[float] = []
        self.requests = self.saved = 0
        self.errors: set[str] = set()

    def run(self, seconds: int, keep: bool = True) -> None:
        session = self.listener.session if self.listener else None
        base = session.settle(0, quiet=0.2) if session else 0
        groups = {"server": common.family(self.server.pid)}
        if self.listener:
            groups["listener"] = [self.listener.process.pid]
        common.wait_quiet()
        meter = common.CpuMeter(groups)
        result = common.wrk(self.port, seconds, self.connections)
        server_cpu = meter.seconds()["server"]
        shares = meter.shares(wrk=result.cpu)
        if result.errors:
            self.errors.add(result.errors)
        if not keep:
            return
        self.rps.append(result.rps)
        self.shares.append(shares)
        self.server_us.append(server_cpu / result.requests * 1e6)
        if session is not None:  # wait for the listener to catch up, then count
            saved = session.settle(base + result.requests) - base
            listener_cpu = meter.seconds()["listener"]
            self.observer_us.append(listener_cpu / max(saved, 1) * 1e6)
            self.requests += result.requests
            self.saved += saved

    def cpu_row(self) -> list[str]:
        shares = {name: median([run[name] for run in self.shares]) for name in self.shares[0]}
        observer = ""
        if self.observer_us:
            us = median(self.observer_us)
            observer = f"{us:.1f} ({spread(self.observer_us, 1)}): {verdict(us <= 15)}"
        cpu = common.shares_text(shares)
        server = f"{median(self.server_us):.1f}"
        return [self.name, server, " / ".join(shares), cpu, common.bound(shares), observer]

    def checks(self, rounds: int) -> list[str]:
        found = [f"wrk errors against {self.name}: {error}" for error in sorted(self.errors)]
        if self.listener is None:
            return found
        extra, lost = self.saved - self.requests, self.listener.session.dropped
        ok = 0 <= extra <= self.connections * rounds and not lost
        found.append(
            f"{self.name}: the session holds {self.saved:,} exchanges for the {self.requests:,} "
            f"requests wrk counted ({extra:+,}: in flight when wrk stopped), {lost} reported "
            f"lost: {'every exchange arrived' if ok else '**exchanges missing or lost**'}."
        )
        return found


def throughput(processes: Processes, rounds: int, seconds: int) -> str:
    variants = [Variant(processes, kind, captured) for kind in CONNECTIONS for captured in (0, 1)]
    for variant in variants:
        common.wait_port(variant.port, variant.server)
        variant.run(1, keep=False)  # warm up
    by_name = {variant.name: variant for variant in variants}
    for r, order in common.rotations(list(by_name), rounds):
        for name in order:
            by_name[name].run(seconds)
        rates = ", ".join(f"{v.name} {v.rps[-1]:,.0f}" for v in variants)
        print(f"  round {r + 1}/{rounds}: {rates} req/s", flush=True)
    rows, checks = [], []
    for bare, wrapped in zip(variants[::2], variants[1::2], strict=True):
        ratios = [w / b for w, b in zip(wrapped.rps, bare.rps, strict=True)]
        target, ratio = TARGET_RATIO[bare.kind], median(ratios)
        server = f"{bare.kind}, 1 worker, wrk -t1 -c{bare.connections}"
        rates = [f"{median(bare.rps):,.0f}", f"{median(wrapped.rps):,.0f}"]
        met = f"≥ {target:.0%}: {verdict(ratio >= target)}"
        rows.append([server, *rates, f"{ratio:.0%} ({spread(ratios)})", met])
        checks += bare.checks(rounds) + wrapped.checks(rounds)
    header = ["server", "bare req/s", "+ `inspector listen --no-tui --save`", "ratio (range)"]
    out = table([*header, "target"], rows) + "\n\n"
    header = ["variant", "server CPU µs/request", "CPU of", "share of a core", "CPU-bound"]
    out += table([*header, "listener CPU µs/exchange (≤ 15)"], [v.cpu_row() for v in variants])
    return out + "\n\n" + "\n".join([*checks, common.quiet_note()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run, about a minute")
    args = parser.parse_args()
    rounds, n = (5, 2_000) if args.quick else (15, 5_000)
    server_rounds, seconds = (2, 3) if args.quick else (6, 8)
    directory = Path(tempfile.mkdtemp(prefix="bench-app-"))
    with Processes(directory) as processes:
        print(f"In-process, {rounds} rounds of {n:,} calls per variant:", flush=True)
        calls = in_process(processes, rounds, n)
        print(f"Throughput, {server_rounds} rounds of {seconds} s per variant:", flush=True)
        served = throughput(processes, server_rounds, seconds)
    print(f"\n## App capture ({common.machine()})\n")
    print(calls + "\n")
    print(served)
    common.print_commands()


if __name__ == "__main__":
    main()
