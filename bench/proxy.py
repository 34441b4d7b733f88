"""`inspect-proxy` against nginx and mitmdump, as users run them, in front of one uvicorn app.

From the repository root, after `bash bench/setup.sh` (wrk, nginx, mitmproxy in
bench/.venv-mitm; tmux must be installed):

    .venv/bin/python bench/proxy.py            # full run, about 7 minutes
    .venv/bin/python bench/proxy.py --quick    # smoke run, about a minute

Variants, all in front of the same upstream (`uvicorn bench.hello:asgi_app`, 1 worker):
- direct: no proxy;
- nginx: `proxy_pass` with HTTP/1.1 keep-alive to the upstream, no buffering, WebSocket
  upgrade headers (as tests/inspector/proxy/conftest.py);
- mitmdump: `mitmdump --mode reverse:http://UPSTREAM -q`;
- inspect-proxy headless: `inspect-proxy --no-tui --save FILE`, stdout to /dev/null (it still
  formats a line per exchange and per WebSocket message);
- inspect-proxy viewer: `inspect-proxy` with its viewer live in a 160x45 tmux pane.

Each round runs every variant (in rotated order): `wrk -t1 -c32 --latency` (throughput, p99),
`wrk -t1 -c1` (p50: latency added over direct), and WebSocket echo over 1 and over 16
connections (a small uvloop client, one 5-byte message in flight per connection; msgs/s).
Ratios are taken per round (variant / nginx, variant / direct in that round), then the median
over rounds. For the two inspect-proxy variants the bench waits after each measurement until
the saved session (headless) or the viewer's status bar (exchanges + evicted) has caught up,
and checks that every request and WebSocket connection arrived, with no loss reported; the
observer's CPU per exchange is its CPU time over the wrk -c32 run and catch-up, divided by the
exchanges it got. CPU shares of upstream, proxy, observer, load generator and everything else
on the machine say which process was CPU-bound.

The end of the output is markdown for the README, then the command lines that ran.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.common import BIN, Processes, SessionCount, median, spread, table, verdict  # noqa: E402

NGINX_CONF = """
daemon off; master_process off; worker_processes 1; pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Host $host;
            proxy_buffering off; proxy_request_buffering off;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
    }}
}}
"""
VARIANTS = ("direct", "nginx", "mitmdump", "headless", "viewer")
TITLES = {
    "headless": "inspect-proxy --no-tui --save",
    "viewer": "inspect-proxy, viewer in tmux",
}


class Variant:
    """One way to reach the upstream, its processes, and what every round measured."""

    def __init__(self, name: str, port: int, proxy_pid: int | None) -> None:
        self.name, self.port, self.proxy_pid = name, port, proxy_pid
        self.extra: dict[str, list[int]] = {}
        """Other processes that work for this variant (the tmux server drawing the viewer)."""
        self.count: Callable[[], int] | None = None
        """Exchanges the observer got so far (inspect-proxy only)."""
        self.dropped: Callable[[], int] = lambda: 0
        self.results: dict[str, list[float]] = {}
        self.shares: dict[str, list[dict[str, float]]] = {"c32": [], "ws1": []}
        self.expected = self.got = 0
        self.errors: set[str] = set()

    def groups(self, upstream: int) -> dict[str, list[int]]:
        groups = {"upstream": [upstream]}
        if self.proxy_pid is not None:
            groups["proxy"] = [self.proxy_pid]
            observer = common.family(self.proxy_pid)[1:]
            if observer:
                groups["observer"] = observer
        return groups | self.extra

    def keep(self, key: str, value: float) -> None:
        self.results.setdefault(key, []).append(value)

    def settle(self, at_least: int) -> int:
        """Wait until the observer got `at_least` exchanges and nothing more came for a while."""
        assert self.count is not None
        deadline, last, since = time.monotonic() + 60, self.count(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.count()
            if now != last:
                last, since = now, time.monotonic()
            elif now >= at_least and time.monotonic() - since >= 0.6:
                break
        return last


def measure(variant: Variant, upstream: int, seconds: tuple[int, int, float]) -> None:
    """One round of one variant: wrk -c32, wrk -c1, WebSocket echo x1 and x16."""
    c32_seconds, c1_seconds, ws_seconds = seconds
    base = variant.settle(0) if variant.count else 0
    groups = variant.groups(upstream)
    common.wait_quiet()
    meter = common.CpuMeter(groups)
    c32 = common.wrk(variant.port, c32_seconds, 32)
    variant.shares["c32"].append(meter.shares(client=c32.cpu))
    variant.keep("rps", c32.rps)
    variant.keep("p99", c32.p99_ms)
    expected = c32.requests
    if variant.count is not None and "observer" in groups:
        got = variant.settle(base + expected) - base
        observer = meter.seconds()["observer"]
        variant.keep("observer_us", observer / max(got, 1) * 1e6)
    common.wait_quiet()
    c1 = common.wrk(variant.port, c1_seconds, 1)
    variant.keep("p50", c1.p50_ms)
    expected += c1.requests
    for connections in (1, 16):
        common.wait_quiet()
        meter = common.CpuMeter(groups)
        rate, client_cpu = ws_echo(variant.port, ws_seconds, connections)
        if connections == 1:
            variant.shares["ws1"].append(meter.shares(client=client_cpu))
        variant.keep(f"ws{connections}", rate)
        expected += connections
    for result in (c32, c1):
        if result.errors:
            variant.errors.add(result.errors)
    if variant.count is not None:
        variant.expected += expected
        variant.got += variant.settle(base + expected) - base


# -- WebSocket echo ----------------------------------------------------------------------------


def ws_echo(port: int, seconds: float, connections: int) -> tuple[float, float]:
    """Messages/s echoed, and the client's CPU seconds (it runs in a process of its own)."""
    argv = [sys.executable, __file__, "--ws-client", str(port), str(seconds), str(connections)]
    common.note([*argv[:3], "PORT", *argv[4:]])
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"the WebSocket client failed on port {port}:\n{out.stderr}")
    rate, loop_cpu = out.stdout.split()  # the CPU of its loop alone, not of its start-up
    return float(rate), float(loop_cpu)


def ws_client(port: int, seconds: float, connections: int) -> None:
    """`--ws-client`: echo a 5-byte text message as fast as possible on each connection."""
    import uvloop

    frame = b"\x81\x85\x00\x00\x00\x00hello"  # masked with a zero key (RFC 6455 §5.3)
    echo = b"\x81\x05hello"

    async def one(deadline: float, counts: list[int]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise SystemExit(f"no WebSocket upgrade: {head[:60]!r}")
        n = 0
        while time.monotonic() < deadline:
            writer.write(frame)
            if await reader.readexactly(len(echo)) != echo:
                raise SystemExit("the echo differed")
            n += 1
        counts.append(n)
        writer.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # close, 1000
        await reader.read()  # the server's close, then EOF
        writer.close()

    async def main() -> None:
        counts: list[int] = []
        cpu, start = time.process_time(), time.monotonic()
        deadline = start + seconds
        await asyncio.gather(*(one(deadline, counts) for _ in range(connections)))
        print(sum(counts) / (time.monotonic() - start), time.process_time() - cpu)

    uvloop.run(main())


# -- the variants ------------------------------------------------------------------------------


def find_mitmdump() -> str:
    path = ROOT / "bench/.venv-mitm/bin/mitmdump"
    if not path.exists():
        raise SystemExit("mitmdump is missing: bash bench/setup.sh")
    return str(path)


def start_viewer(processes: Processes, argv: list[str | Path]) -> Variant:
    """`inspect-proxy` in a tmux pane of a tmux server of our own (stderr stays the pane's)."""
    tmux = ["tmux", "-L", f"bench-proxy-{os.getpid()}"]
    command = "exec " + shlex.join(str(arg) for arg in argv)
    common.note([*tmux, "new-session", "-d", "-x", "160", "-y", "45", command])
    subprocess.run([*tmux, "new-session", "-d", "-x", "160", "-y", "45", command], cwd=ROOT)
    ask = [*tmux, "display-message", "-p", "#{pane_pid} #{pid} #{socket_path}"]
    pane, server, socket_path = subprocess.run(ask, capture_output=True, text=True).stdout.split()
    pid = int(pane)  # `exec`: the pane's process is inspect-proxy itself
    processes.cleanups.append(lambda: _stop_tmux(tmux, pid, Path(socket_path)))
    variant = Variant("viewer", int(str(argv[-1]).rsplit(":", 1)[1]), pid)
    variant.extra["tmux"] = [int(server)]
    status = re.compile(r"([\d,]+)/([\d,]+) shown.*dropped ([\d,]+).*evicted ([\d,]+)")
    last = [0, 0]

    def read() -> list[int]:
        pane = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True)
        found = status.search(pane.stdout)
        if found:
            _, total, dropped, evicted = (int(g.replace(",", "")) for g in found.groups())
            last[:] = [total + evicted, dropped]
        return last

    variant.count = lambda: read()[0]
    variant.dropped = lambda: read()[1]
    return variant


def _stop_tmux(tmux: list[str], pid: int, socket_path: Path) -> None:
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    subprocess.run([*tmux, "kill-server"], capture_output=True)
    socket_path.unlink(missing_ok=True)  # the server leaves it behind when its last pane ends


def start_all(processes: Processes) -> tuple[int, dict[str, Variant]]:
    tmp = processes.directory
    upstream_port = common.free_port()
    argv = [BIN / "uvicorn", "bench.hello:asgi_app", "--port", str(upstream_port)]
    upstream = processes.start([*argv, "--log-level", "warning", "--no-access-log"], "upstream")
    common.wait_port(upstream_port, upstream)
    ports = {name: common.free_port() for name in VARIANTS[1:]}
    (tmp / "nginx.conf").write_text(
        NGINX_CONF.format(tmp=tmp, upstream=upstream_port, port=ports["nginx"])
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    nginx_argv = [nginx, "-p", tmp, "-c", tmp / "nginx.conf", "-e", tmp / "nginx-error.log"]
    mitm_argv = [find_mitmdump(), "--mode", f"reverse:http://127.0.0.1:{upstream_port}"]
    mitm_argv += ["--listen-host", "127.0.0.1", "-p", str(ports["mitmdump"]), "-q"]
    proxy = [BIN / "inspect-proxy", "--upstream", f"127.0.0.1:{upstream_port}", "--listen"]
    headless_argv = [*proxy, f"127.0.0.1:{ports['headless']}", "--no-tui"]
    headless_argv += ["--save", tmp / "headless.jsonl"]
    started = {
        "nginx": processes.start(nginx_argv, "nginx"),
        "mitmdump": processes.start(mitm_argv, "mitmdump"),
        "headless": processes.start(headless_argv, "inspect-proxy"),
    }
    variants = {"direct": Variant("direct", upstream_port, None)}
    for name, process in started.items():
        common.wait_port(ports[name], process, 60)
        variants[name] = Variant(name, ports[name], process.pid)
    session = SessionCount(tmp / "headless.jsonl")
    variants["headless"].count = session.read
    variants["headless"].dropped = lambda: session.dropped
    variants["viewer"] = start_viewer(processes, [*proxy, f"127.0.0.1:{ports['viewer']}"])
    common.wait_port(ports["viewer"], None, 60)
    return upstream.pid, variants


# -- the report --------------------------------------------------------------------------------


def ratios(variant: Variant, other: Variant, key: str) -> list[float]:
    return [a / b for a, b in zip(variant.results[key], other.results[key], strict=True)]


def http_row(v: Variant, direct: Variant, nginx: Variant, mitm: Variant) -> list[str]:
    r = v.results
    added = [a - b for a, b in zip(r["p50"], direct.results["p50"], strict=True)]
    rps = [f"{median(ratios(v, other, 'rps')):.2f}x" for other in (nginx, mitm)]
    p99 = [f"{median(r['p99']):.2f}", f"{median(ratios(v, nginx, 'p99')):.2f}x"]
    p50 = [f"{median(r['p50']):.3f}", f"{median(added):+.3f}" if v is not direct else ""]
    return [TITLES.get(v.name, v.name), f"{median(r['rps']):,.0f}", *rps, *p99, *p50]


def ws_row(v: Variant, direct: Variant) -> list[str]:
    row = [TITLES.get(v.name, v.name)]
    for key in ("ws1", "ws16"):
        row += [f"{median(v.results[key]):,.0f}", f"{median(ratios(v, direct, key)):.2f}x"]
    return row


def cpu_row(v: Variant) -> list[str]:
    row = [TITLES.get(v.name, v.name)]
    for key in ("c32", "ws1"):
        shares = {k: median([s[k] for s in v.shares[key]]) for k in v.shares[key][0]}
        row += [" / ".join(shares), common.shares_text(shares), common.bound(shares)]
    us = v.results.get("observer_us", [])
    row.append(f"{median(us):.1f} ({spread(us, 1)}): {verdict(median(us) <= 15)}" if us else "")
    return row


def checks(v: Variant, rounds: int) -> list[str]:
    found = [f"wrk errors through {v.name}: {error}" for error in sorted(v.errors)]
    if v.count is not None:
        extra, lost = v.got - v.expected, v.dropped()
        ok = 0 <= extra <= 33 * rounds and not lost
        found.append(
            f"{TITLES[v.name]}: {v.got:,} exchanges for the {v.expected:,} requests and "
            f"WebSocket connections counted ({extra:+,} in flight when wrk stopped), {lost} "
            f"reported lost: {'every exchange arrived' if ok else '**exchanges missing or lost**'}."
        )
    return found


def report(variants: dict[str, Variant], rounds: int) -> str:
    direct, nginx, mitm = variants["direct"], variants["nginx"], variants["mitmdump"]
    header = ["variant", "req/s (c32)", "vs nginx", "vs mitmdump", "p99 c32 (ms)"]
    header += ["p99 vs nginx", "p50 c1 (ms)", "added p50 vs direct (ms)"]
    out = table(header, [http_row(v, direct, nginx, mitm) for v in variants.values()])
    header = ["variant", "WS echo msg/s, 1 conn", "vs direct", "16 conns", "vs direct"]
    out += "\n\n" + table(header, [ws_row(v, direct) for v in variants.values()])
    header = ["variant", "CPU of, wrk -c32", "share of a core", "CPU-bound", "CPU of, WS x1"]
    header += ["share of a core", "CPU-bound", "observer µs/exchange (≤ 15)"]
    out += "\n\n" + table(header, [cpu_row(v) for v in variants.values()])
    found = [line for v in variants.values() for line in checks(v, rounds)]
    found.append(common.quiet_note())
    return out + "\n\n" + targets(variants) + "\n\n" + "\n".join(found)


def targets(variants: dict[str, Variant]) -> str:
    nginx, mitm, direct = variants["nginx"], variants["mitmdump"], variants["direct"]
    headless, viewer = variants["headless"], variants["viewer"]
    lines = []

    def line(what: str, value: float, target: str, met: bool, unit: str = "x") -> None:
        lines.append(f"- {what}: {value:.2f}{unit} (target {target}): {verdict(met)}")

    for v in (headless, viewer):
        value = median(ratios(v, nginx, "rps"))
        line(f"{TITLES[v.name]} throughput vs nginx", value, "≥ 0.9x", value >= 0.9)
    value = median(ratios(headless, mitm, "rps"))
    line(f"{TITLES['headless']} throughput vs mitmdump", value, "≥ 10x", value >= 10)
    value = median(ratios(viewer, nginx, "p99"))
    line(f"{TITLES['viewer']} p99 vs nginx's p99", value, "≤ 1.5x", value <= 1.5)
    added = [a - b for a, b in zip(headless.results["p50"], direct.results["p50"], strict=True)]
    line(f"{TITLES['headless']} added p50", median(added), "≤ +0.1 ms", median(added) <= 0.1, " ms")
    floor = median(ratios(nginx, direct, "ws1"))
    for v in (headless, viewer):
        value = median(ratios(v, direct, "ws1"))
        line(
            f"{TITLES[v.name]} WS echo x1 vs direct",
            value,
            f"≥ nginx's {floor:.2f}x",
            value >= floor,
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run, about a minute")
    parser.add_argument("--ws-client", nargs=3, metavar=("PORT", "SECONDS", "CONNECTIONS"))
    args = parser.parse_args()
    if args.ws_client:
        ws_client(int(args.ws_client[0]), float(args.ws_client[1]), int(args.ws_client[2]))
        return
    if shutil.which("tmux") is None or shutil.which("wrk") is None:
        raise SystemExit("wrk and tmux are needed: bash bench/setup.sh")
    rounds, seconds = (2, (2, 1, 1.0)) if args.quick else (5, (5, 3, 2.0))
    with Processes(Path(tempfile.mkdtemp(prefix="bench-proxy-"))) as processes:
        upstream, variants = start_all(processes)
        for variant in variants.values():  # warm up
            common.wrk(variant.port, 1, 32)
        time.sleep(1)
        for r, order in common.rotations(VARIANTS, rounds):
            for name in order:
                measure(variants[name], upstream, seconds)
            rates = ", ".join(f"{n} {v.results['rps'][-1]:,.0f}" for n, v in variants.items())
            print(f"round {r + 1}/{rounds}: {rates} req/s", flush=True)
        out = report(variants, rounds)
    c32, c1, ws = seconds
    print(f"\n## Reverse proxies ({common.machine()})\n")
    print(
        f"{rounds} interleaved rounds; per round and variant wrk -t1 -c32 -d{c32}s, "
        f"wrk -t1 -c1 -d{c1}s, WebSocket echo {ws:g} s over 1 and over 16 connections.\n"
    )
    print(out)
    common.print_commands()


if __name__ == "__main__":
    main()
