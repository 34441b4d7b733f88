"""The reverse proxy against nginx and mitmdump, with the same uvicorn upstream.

From the repository root, after `bash scripts/test.sh` has made `.venv` (not run by the tests):

    .venv/bin/python bench/proxy.py              # full run, a few minutes
    .venv/bin/python bench/proxy.py --quick      # smoke run

`bash bench/setup.sh` installs what it compares against: `wrk` and `nginx` from Debian, and
mitmproxy into bench/.venv-mitm (its own venv). mitmdump is looked for in $MITMDUMP,
bench/.venv-mitm/bin and /tmp/venv-mitm/bin; without it that column is left out.

Variants, interleaved over rounds (medians kept): direct to uvicorn, through inspector's proxy
(uvloop, full capture, a counting bus subscriber), through nginx (`proxy_pass`, HTTP/1.1,
keep-alive, no buffering), through `mitmdump --mode reverse`. Measured: `wrk -t1 -c32`
throughput on a hello app; p50 latency at one connection (`wrk -c1`); WebSocket echo
messages/s (16 connections, one message in flight each, a small uvloop client); the proxy's
peak RSS while a 1 GB response streams through it. CPU time of the proxy and the upstream per
run says who was the bottleneck (2 cores here, shared with wrk). Prints one markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the processes -------------------------------------------------------------------------------


def serve_proxy(upstream: int, listen: int, stats: str) -> None:
    """`--serve-proxy`: the proxy under uvloop, full capture, a counting subscriber."""
    import uvloop

    sys.path.insert(0, str(ROOT))
    from inspector import EventBus
    from inspector.proxy import Proxy, ProxyConfig

    async def main() -> None:
        bus = EventBus()
        count = [0]
        bus.subscribe(lambda events: count.__setitem__(0, count[0] + len(events)))
        config = ProxyConfig(upstream=("127.0.0.1", upstream), listen=("127.0.0.1", listen))
        proxy = Proxy(config, bus)
        await proxy.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await proxy.close()
        bus.flush()
        Path(stats).write_text(json.dumps({"events": count[0], "dropped": bus.stats().dropped}))

    uvloop.run(main())


def ws_client(port: int, seconds: float, connections: int) -> None:
    """`--ws-client`: echo a 5-byte text message as fast as possible; prints messages/s."""
    import uvloop

    frame = b"\x81\x85\x00\x00\x00\x00hello"  # masked with a zero key (RFC 6455 §5.3)
    echo = b"\x81\x05hello"

    async def one(deadline: float, counts: list[int]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /ws/echo HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await reader.readuntil(b"\r\n\r\n")
        n = 0
        while time.monotonic() < deadline:
            writer.write(frame)
            assert await reader.readexactly(len(echo)) == echo
            n += 1
        counts.append(n)
        writer.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
        writer.close()

    async def main() -> None:
        counts: list[int] = []
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(one(deadline, counts) for _ in range(connections)))
        print(sum(counts) / seconds)

    uvloop.run(main())


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs
    )


def uvicorn(target: str, port: int, factory: bool = False) -> subprocess.Popen[bytes]:
    args = [PY, "-m", "uvicorn", target, "--port", str(port), "--log-level", "warning"]
    args += ["--no-access-log"] + (["--factory"] if factory else [])
    return spawn(args, env={**os.environ, "PYTHONPATH": str(ROOT)})


NGINX_CONF = """
daemon off; master_process off; worker_processes 1; pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
    {servers}
}}
"""
NGINX_SERVER = """
    upstream u{port} {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{ listen 127.0.0.1:{port}; location / {{
        proxy_pass http://u{port}; proxy_http_version 1.1; proxy_buffering off;
        proxy_set_header Host $host; proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade; }} }}
"""


def find_mitmdump() -> str | None:
    candidates = [os.environ.get("MITMDUMP", ""), str(ROOT / "bench/.venv-mitm/bin/mitmdump")]
    candidates.append("/tmp/venv-mitm/bin/mitmdump")
    return next((c for c in candidates if c and os.path.exists(c)), None)


# -- the measurements --------------------------------------------------------------------------


def wrk(port: int, seconds: float, connections: int, path: str = "/") -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    assert p50 is not None, out
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p50.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"  wrk reported errors on port {port}: {errors.group(0)}", file=sys.stderr)
    return {"rps": rps, "p50_ms": float(p50.group(1)) * scale}


def measured(pids: dict[str, int], run: Any) -> tuple[Any, dict[str, float]]:
    """Run `run()`, returning its result and the CPU seconds each named process used."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start = time.monotonic()
    result = run()
    wall = time.monotonic() - start
    return result, {name: (cpu_seconds(pid) - before[name]) / wall for name, pid in pids.items()}


def ws_rate(port: int, seconds: float) -> float:
    out = subprocess.run(
        [PY, __file__, "--ws-client", str(port), str(seconds), "16"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip())


def big_transfer(proxy_port: int, proxy_pid: int, size: int) -> tuple[float, float, float]:
    """Stream `size` bytes through the proxy; (RSS before, peak RSS during, seconds)."""
    before = rss_mb(proxy_pid)
    peak = before
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", proxy_port)) as sock:
        sock.sendall(b"GET /download?n=%d HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n" % size)
        got = 0
        last = 0.0
        while chunk := sock.recv(1 << 20):
            got += len(chunk)
            if time.monotonic() - last > 0.05:
                peak, last = max(peak, rss_mb(proxy_pid)), time.monotonic()
    assert got > size, got
    return before, peak, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve-proxy", nargs=3, metavar=("UPSTREAM", "LISTEN", "STATS"))
    parser.add_argument("--ws-client", nargs=3, metavar=("PORT", "SECONDS", "CONNECTIONS"))
    args = parser.parse_args()
    if args.serve_proxy:
        serve_proxy(int(args.serve_proxy[0]), int(args.serve_proxy[1]), args.serve_proxy[2])
        return
    if args.ws_client:
        ws_client(int(args.ws_client[0]), float(args.ws_client[1]), int(args.ws_client[2]))
        return
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is needed: bash bench/setup.sh")
    rounds, seconds, ws_seconds = (2, 2, 2) if args.quick else (5, 5, 4)
    transfer = (200 if args.quick else 1024) * 1024 * 1024
    run(rounds, seconds, ws_seconds, transfer)


def run(rounds: int, seconds: float, ws_seconds: float, transfer: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    procs: list[subprocess.Popen[bytes]] = []
    hello, app = free_port(), free_port()
    ports = {"proxy": (free_port(), free_port()), "nginx": (free_port(), free_port())}
    procs.append(uvicorn("bench.apps:asgi_bare", hello, factory=True))
    procs.append(uvicorn("tests.apps.proxy_upstream:app", app))
    stats = [tmp / "proxy-hello.json", tmp / "proxy-app.json"]
    proxies = {}
    for port, upstream, stat in zip(ports["proxy"], (hello, app), stats, strict=True):
        command = [PY, __file__, "--serve-proxy", str(upstream), str(port), str(stat)]
        proxies[upstream] = spawn(command)
        procs.append(proxies[upstream])
    servers = "".join(
        NGINX_SERVER.format(port=port, upstream=upstream)
        for port, upstream in zip(ports["nginx"], (hello, app), strict=True)
    )
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, servers=servers))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    procs.append(spawn([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", "stderr"]))
    mitmdump = find_mitmdump()
    if mitmdump:
        ports["mitmdump"] = (free_port(), free_port())
        for port, upstream in zip(ports["mitmdump"], (hello, app), strict=True):
            mode = f"reverse:http://127.0.0.1:{upstream}"
            procs.append(spawn([mitmdump, "--mode", mode, "-p", str(port), "-q"]))
    ports["direct"] = (hello, app)
    try:
        for pair in ports.values():
            for port in pair:
                wait_port(port, 60)
        report(ports, procs, proxies, hello, app, rounds, seconds, ws_seconds, transfer)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for stat in stats:
            if stat.exists():
                print(f"proxy bus ({stat.stem}): {stat.read_text()}")


def report(
    ports: dict[str, tuple[int, int]],
    procs: list[subprocess.Popen[bytes]],
    proxies: dict[int, subprocess.Popen[bytes]],
    hello: int,
    app: int,
    rounds: int,
    seconds: float,
    ws_seconds: float,
    transfer: int,
) -> None:
    names = ["direct", "proxy", "nginx"] + (["mitmdump"] if "mitmdump" in ports else [])
    rps: dict[str, list[float]] = {n: [] for n in names}
    p50: dict[str, list[float]] = {n: [] for n in names}
    ws: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    pids = {"proxy": proxies[hello].pid, "upstream": procs[0].pid}
    for name in names:  # warm up
        wrk(ports[name][0], 1, 32)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            result, used = measured(pids, lambda n=name: wrk(ports[n][0], seconds, 32))
            rps[name].append(result["rps"])
            cpu[name].append(used)
            p50[name].append(wrk(ports[name][0], seconds / 2, 1)["p50_ms"])
            ws[name].append(ws_rate(ports[name][1], ws_seconds))
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {rps[n][-1]:.0f}" for n in names))
    before, peak, took = big_transfer(ports["proxy"][1], proxies[app].pid, transfer)
    med = {n: statistics.median(rps[n]) for n in names}
    lat = {n: statistics.median(p50[n]) for n in names}
    wsm = {n: statistics.median(ws[n]) for n in names}
    print()
    print(f"{rounds} interleaved rounds, medians; wrk -t1 -c32 -d{seconds}s, hello app on uvicorn")
    print()
    print(
        "| variant | req/s (c32) | vs direct | p50 c1 (ms) | added p50 (ms) | WS echo msg/s "
        "| WS vs direct | proxy CPU | upstream CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        proxy_cpu = statistics.median(c["proxy"] for c in cpu[n])
        up_cpu = statistics.median(c["upstream"] for c in cpu[n])
        print(
            f"| {n} | {med[n]:.0f} | {med[n] / med['direct']:.2f}x | {lat[n]:.3f} "
            f"| {lat[n] - lat['direct']:+.3f} | {wsm[n]:.0f} | {wsm[n] / wsm['direct']:.2f}x "
            f"| {proxy_cpu:.0%} | {up_cpu:.0%} |"
        )
    print()
    print(
        f"proxy vs nginx: {med['proxy'] / med['nginx']:.2f}x throughput, "
        f"WS {wsm['proxy'] / wsm['nginx']:.2f}x"
    )
    if "mitmdump" in names:
        print(f"proxy vs mitmdump: {med['proxy'] / med['mitmdump']:.1f}x throughput")
    print(
        f"{transfer / 2**30:.2f} GiB through the proxy in {took:.1f} s "
        f"({transfer / took / 2**20:.0f} MiB/s): RSS {before:.0f} MiB before, peak {peak:.0f} MiB"
    )
    print(
        "'proxy CPU' is the inspector proxy process's CPU share during each variant's c32 run "
        "(it idles for the others); 'upstream CPU' is uvicorn's: near 100% means it was the bound."
    )


if __name__ == "__main__":
    main()
