"""What large compressed WebSocket messages cost `inspect-proxy --no-tui --save FILE`.

From the repository root (not run by the tests):

    .venv/bin/python bench/ws_budget.py
    .venv/bin/python bench/ws_budget.py --messages 3000 --filter "~u ws"

One uvicorn upstream (the tests' echo app, `websockets` with permessage-deflate), one
`inspect-proxy --no-tui --save FILE` in front of it (stdout, the headless log, to a file), and
one client (the `websockets` library, compression on) sending `--messages` binary messages of
`--size` zero bytes (about 1 KiB each on the wire) on one connection, each echoed back. Once
the session file says the exchange finished, it reports the peak RSS (VmHWM) and CPU time of
the relay and of its observer child, the session file's size, the headless log's size, and
what the session says of the messages (kept, payload bytes kept, payload bytes not kept).
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from websockets.sync.client import connect

from bench.common import (
    BIN,
    COMMANDS,
    ROOT,
    Processes,
    SessionCount,
    cpu_seconds,
    family,
    free_port,
    note,
    wait_port,
)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def session_messages(path: Path) -> tuple[int, int, int, int]:
    """Messages, those with a payload kept, payload bytes kept, and bytes of the messages
    saved without their payload."""
    count = kept = kept_bytes = unkept_bytes = 0
    with open(path, "rb") as file:
        for line in file:
            if not line.startswith(b'{"event":"WebSocketMessage"'):
                continue
            event = json.loads(line)
            count += 1
            text, data = event["text"], event["data"]
            payload = len(text.encode()) if text is not None else len(base64.b64decode(data))
            if payload or not event["size"]:
                kept += 1
                kept_bytes += payload
            else:
                unkept_bytes += event["size"]
    return count, kept, kept_bytes, unkept_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--size", type=int, default=1 << 20)
    parser.add_argument("--filter", help="pass --filter EXPR to inspect-proxy (folds exchanges)")
    args = parser.parse_args()
    # Removed at the end: the session of the default run was 839 MB before the byte budget.
    with tempfile.TemporaryDirectory(prefix="ws-budget-") as name:
        run(args, Path(name))


def run(args: argparse.Namespace, directory: Path) -> None:
    save = directory / "session.jsonl"
    log = directory / "headless.log"
    with Processes(directory) as processes:
        upstream = free_port()
        argv = [BIN / "uvicorn", "tests.apps.asgi_cases:app", "--port", str(upstream)]
        server = processes.start([*argv, "--ws", "websockets", "--log-level", "warning"], "app")
        wait_port(upstream, server)
        port = free_port()
        proxy = [BIN / "inspect-proxy", "--upstream", f"127.0.0.1:{upstream}"]
        proxy += ["--listen", f"127.0.0.1:{port}", "--no-tui", "--save", save]
        proxy += ["--filter", args.filter] if args.filter else []
        note(proxy)
        with open(log, "wb") as out:  # the headless log, to measure it too
            relay = subprocess.Popen([str(arg) for arg in proxy], stdout=out, cwd=ROOT)
        processes.started.append(relay)
        wait_port(port, relay)
        note(["client: websockets, compression=deflate", f"{args.messages} x {args.size} zeros"])
        payload = bytes(args.size)
        start = time.monotonic()
        with connect(f"ws://127.0.0.1:{port}/ws/echo", compression="deflate", max_size=None) as ws:
            for _ in range(args.messages):
                ws.send(payload)
                assert ws.recv() == payload
        sent = time.monotonic() - start
        SessionCount(save).settle(1, timeout=300, quiet=1.0)
        observer = [pid for pid in family(relay.pid) if pid != relay.pid]
        relay_mib = peak_rss_mib(relay.pid)
        observer_mib = max((peak_rss_mib(pid) for pid in observer), default=float("nan"))
        count, kept, kept_bytes, unkept_bytes = session_messages(save)
        print(f"{args.messages} messages of {args.size:,} zero bytes each way, in {sent:.1f} s")
        relay_cpu = cpu_seconds(relay.pid)
        observer_cpu = sum(cpu_seconds(pid) for pid in observer)
        print(f"relay VmHWM:    {relay_mib:7.1f} MiB, CPU {relay_cpu:.1f} s")
        print(f"observer VmHWM: {observer_mib:7.1f} MiB, CPU {observer_cpu:.1f} s")
        print(f"session file:   {save.stat().st_size / 1e6:7.1f} MB")
        print(f"headless log:   {log.stat().st_size / 1e3:7.1f} kB")
        print(
            f"saved messages: {count}, {kept} with their payload ({kept_bytes / 2**20:.1f} MiB), "
            f"{count - kept} without ({unkept_bytes / 2**20:.1f} MiB not kept)"
        )
        print("\n".join(["commands:", *(f"  {shown}" for shown in COMMANDS)]))


if __name__ == "__main__":
    main()
