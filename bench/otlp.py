"""`inspector listen --otlp` against a backend that is down or slow, beside `listen` alone.

The README's commands: uvicorn serving a wrapped hello app, `inspector listen --no-tui --save`
(the session stands for the viewer: every exchange must reach it) with and without `--otlp`,
and wrk. The slow backend is an OTLP/HTTP endpoint in this process that takes 2 s to answer
each request; the down one is a port nothing listens on. For each: throughput, exchanges that
reached the session, the listener's CPU, and what `--otlp` said (once) and counted at exit.

    python -m bench.otlp [--seconds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import common
from bench.common import BIN, Processes, SessionCount


class _Slow(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        time.sleep(2.0)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(processes: Processes, label: str, otlp: str | None, seconds: int) -> list[str]:
    name = label.split("(")[-1].split(",")[0].strip(" )").replace("listen", "plain")
    sock = processes.directory / f"{name}.sock"
    save = processes.directory / f"{name}.jsonl"
    argv: list[str | Path] = [BIN / "inspector", "listen", "--bus", f"unix:{sock}", "--no-tui"]
    argv += ["--save", save, *(["--otlp", otlp] if otlp else [])]
    listener = processes.start(argv, name)
    while not sock.exists():
        if listener.poll() is not None:
            raise SystemExit(f"inspector listen did not start:\n{processes.log(name)}")
        time.sleep(0.05)
    port = common.free_port()
    server_argv = [BIN / "uvicorn", "--factory", "bench.hello:asgi_captured", "--port", str(port)]
    server = processes.start(
        [*server_argv, "--log-level", "warning", "--no-access-log"],
        f"{name}-uvicorn",
        {"INSPECTOR_BUS": f"unix:{sock}"},
    )
    common.wait_port(port, server)
    cpu = common.cpu_seconds(listener.pid)
    result = common.wrk(port, seconds, 16)
    session = SessionCount(save)
    saved = session.settle(result.requests, timeout=30)
    cpu = common.cpu_seconds(listener.pid) - cpu
    server.terminate()
    server.wait(15)
    listener.send_signal(2)
    listener.wait(30)
    said = [line for line in processes.log(name).splitlines() if "OTLP" in line]
    return [
        label,
        f"{result.rps:,.0f}",
        f"{result.p99_ms:.1f}",
        f"{saved:,}/{result.requests:,}",
        f"{cpu / result.wall:.0%}",
        " | ".join(said) or "-",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    slow = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    down = f"http://127.0.0.1:{common.free_port()}"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp, Processes(Path(tmp)) as processes:
            for name, otlp in (
                ("listen", None),
                ("listen --otlp (down)", down),
                ("listen --otlp (slow, 2 s)", f"http://127.0.0.1:{slow.server_address[1]}"),
            ):
                rows.append(run(processes, name, otlp, args.seconds))
    finally:
        slow.shutdown()
        slow.server_close()
    print(common.machine())
    header = ["variant", "req/s", "p99 ms", "in session", "listen CPU", "what --otlp said"]
    print(common.table(header, rows))
    common.print_commands()


if __name__ == "__main__":
    main()
