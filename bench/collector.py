"""What a live collector costs an app, and how much a collector can take.

From the repository root, after `bash scripts/test.sh` has made `.venv` (not run by the tests):

    .venv/bin/python bench/collector.py              # full run, about 6 minutes
    .venv/bin/python bench/collector.py --quick      # smoke run, about a minute
    .venv/bin/python bench/collector.py --only capacity --profile

1. Throughput with a live collector: the hello app of bench/apps.py under uvicorn (one worker,
   wrk -t1 -c32) and gunicorn (sync, one worker, wrk -t1 -c4), on 127.0.0.1, as
   - bare;
   - wrapped, `INSPECTOR_BUS=off` (capture only, in-process);
   - wrapped, streaming to a live collector: a separate process doing what the viewer does
     with events (`Collector` -> `EventBus` -> fold every event into a `Store`), see
     bench/collector_apps.py;
   - wrapped, streaming to `inspector listen --no-tui --save FILE` (stdout to /dev/null: it
     still formats one line per exchange), a reference for the headless CLI.
   The variants are interleaved over several rounds; medians are kept, and each ratio is the
   median over rounds of (variant / bare in the same round). After every run the bench waits
   until the collector has folded everything, then checks that it got an `ExchangeFinished`
   for every request wrk counted (wrk does not count the few requests in flight when it stops,
   so the collector may see a few more) and that no one dropped events (sink buffer, the
   collector's bus, `EventsDropped` reports). The server, collector and wrk CPU are measured
   (2 cores here: who was CPU-bound?).
2. Collector capacity: 4 sender processes (like gunicorn -w 4), each real ASGI capture on its
   own bus and `Sink`, GET requests with 10 headers answered with 6 headers and 1 KiB of
   body (5 events per exchange), offer a fixed total rate of events/s (and once as fast as
   they can) to one collector process. Measured: events/s the collector received and folded
   while the senders ran, drops, how long it needed to catch up after they stopped, its CPU
   per thread, and its RSS every 0.5 s (also with a 10,000-exchange store, to show eviction
   keeping memory flat).
3. Per-event costs in isolation: codec.dumps / codec.loads per event type (with the garbage
   collector on, off, and with a filled store alive in the process), and Store.add. With
   `--profile`, or when the collector misses the 20,000 events/s target, an unpaced run is
   repeated with cProfile in both collector threads.

The last thing printed is markdown for the README: the tables and the command lines.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.capture import (  # noqa: E402
    PLANS,
    TARGET_RATIO,
    Server,
    find_wrk,
    proc_cpu,
    uvicorn_impl,
    wrk_run,
)
from bench.collector_apps import EVENTS_PER_EXCHANGE  # noqa: E402
from inspector.store import DEFAULT_MAX_BYTES, DEFAULT_MAX_EXCHANGES  # noqa: E402

TARGET_EVENTS = 20_000
SENDERS = 4
SMALL_STORE = 10_000
CONNECTIONS = {kind: connections for kind, connections, _ in PLANS}
APP = "bench.collector_apps"


def rss_mb(pid: int) -> float:
    """Resident memory of a live process in MiB (VmRSS), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def wait_for_socket(path: str, process: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        if process.poll() is not None:
            raise SystemExit(f"{what} exited at start")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not listen on {path} in 30 s")
        time.sleep(0.05)


# -- collector processes ---------------------------------------------------------------------


@dataclass
class Counts:
    """What a collector process has taken in so far."""

    events: int = 0
    finished: int = 0
    dropped: int = 0  # reported by peers (EventsDropped) or by its own bus
    extra: dict[str, Any] = field(default_factory=dict)


class StoreCollector:
    """`python -m bench.collector_apps collector`: Collector -> EventBus -> Store."""

    label = "collector"

    def __init__(
        self, directory: str, name: str, max_exchanges: int | None = None, profile: str = ""
    ) -> None:
        self.path = os.path.join(directory, f"{name}.sock")
        self.address = f"unix:{self.path}"
        argv = [sys.executable, "-m", APP, "collector", self.address]
        if max_exchanges is not None:
            argv += ["--max-exchanges", str(max_exchanges)]
        if profile:
            argv += ["--profile", profile]
        self.process = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the collector process did not start")
        self.pid = self.process.pid

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())  # type: ignore[no-any-return]

    def counts(self) -> Counts:
        s = self.stats()
        return Counts(s["folded"], s["finished"], s["reported_dropped"] + s["bus_dropped"], s)

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ListenCollector:
    """`inspector listen --no-tui --save FILE`; counts what it wrote to FILE."""

    label = "listen --no-tui --save"

    def __init__(self, directory: str, name: str) -> None:
        self.path = os.path.join(directory, f"{name}.sock")
        self.address = f"unix:{self.path}"
        self.save = os.path.join(directory, f"{name}.jsonl")
        argv = [sys.executable, "-m", "tui", "listen", "--bus", self.address, "--no-tui"]
        argv += ["--save", self.save]
        self.process = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_socket(self.path, self.process, "inspector listen")
        self.pid = self.process.pid
        self._offset = 0
        self._rest = b""
        self._counts = Counts()
        self._header = True

    def counts(self) -> Counts:
        """Read what was appended to the session file since the last call."""
        try:
            with open(self.save, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return self._counts
        self._offset += len(data)
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        whole, self._rest = data[:cut], data[cut:]
        lines = whole.count(b"\n")
        if self._header and lines:
            lines -= 1
            self._header = False
        counts = self._counts
        counts.events += lines
        counts.finished += whole.count(b'"event":"ExchangeFinished"')
        at = whole.find(b'"event":"EventsDropped"')
        while at >= 0:
            start = whole.rfind(b"\n", 0, at) + 1
            end = whole.find(b"\n", at)
            counts.dropped += json.loads(whole[start:end])["count"]
            at = whole.find(b'"event":"EventsDropped"', end)
        return counts

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


Sidecar = StoreCollector | ListenCollector


def wait_drained(sidecar: Sidecar, expected: int, limit: float = 60.0) -> tuple[Counts, float]:
    """Poll until the collector has `expected` exchanges finished and nothing more arrives;
    returns its counts and how long that took."""
    start = time.monotonic()
    last, still = -1, 0
    while True:
        counts = sidecar.counts()
        still = still + 1 if counts.events == last else 0
        last = counts.events
        waited = time.monotonic() - start
        if (counts.finished >= expected and still >= 2) or still >= 50 or waited > limit:
            return counts, waited
        time.sleep(0.1)


# -- 1. throughput ---------------------------------------------------------------------------


@dataclass
class Sample:
    rate: float
    cpu: float  # server cores during wrk's run
    wrk_cpu: float
    sidecar_cpu: float  # collector cores during wrk's run
    machine: float  # busy cores of the whole machine (other agents' work included)
    main_us: float  # server CPU per request: the threads serving requests
    capture_us: float  # ... and the other threads (capture's bus and sink threads)
    collected: int = 0  # ExchangeFinished the collector got for this run
    served: int = 0  # requests wrk counted
    drain: float = 0.0  # seconds to fold the rest after wrk ended


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def thread_split(pids: list[int]) -> tuple[float, float]:
    """CPU seconds of the processes' main threads, and of all their other threads."""
    tick = os.sysconf("SC_CLK_TCK")
    main = other = 0.0
    for pid in pids:
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / tick
            if int(task.name) == pid:
                main += cpu
            else:
                other += cpu
    return main, other


@dataclass
class BusServer(Server):
    bus: str = "off"
    sidecar: Sidecar | None = None
    samples: list[Sample] = field(default_factory=list)
    report: list[dict[str, Any]] = field(default_factory=list)
    final: Counts | None = None

    def start(self, stats_dir: str) -> None:
        if self.kind == "uvicorn":
            argv = ["-m", "uvicorn", "--factory", self.target, "--host", "127.0.0.1"]
            argv += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        else:
            argv = ["-m", "gunicorn", self.target, "-b", f"127.0.0.1:{self.port}"]
            argv += ["-w", "1", "-k", "sync", "--log-level", "warning", "--no-control-socket"]
        env = {**os.environ, "BENCH_STATS_DIR": stats_dir, "PYTHONPATH": str(ROOT)}
        env["INSPECTOR_BUS"] = self.bus
        self.process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env)

    def measure(self, wrk: str, seconds: int, connections: int) -> Sample:
        sidecar = self.sidecar
        cpu0, start = (proc_cpu(sidecar.pid) if sidecar else 0.0), time.monotonic()
        busy0, total0 = machine_ticks()
        main0, other0 = thread_split(self.pids)
        before = self.requests
        run = wrk_run(wrk, self, seconds, connections)
        elapsed = time.monotonic() - start
        busy1, total1 = machine_ticks()
        main1, other1 = thread_split(self.pids)
        served = self.requests - before
        sample = Sample(
            run.rate,
            run.cpu,
            run.wrk_cpu,
            0.0,
            machine=(busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1),
            main_us=(main1 - main0) / max(served, 1) * 1e6,
            capture_us=(other1 - other0) / max(served, 1) * 1e6,
            served=served,
        )
        if sidecar is not None:
            sample.sidecar_cpu = (proc_cpu(sidecar.pid) - cpu0) / elapsed
            got_before = self.final.finished if self.final else 0
            self.final, sample.drain = wait_drained(sidecar, self.requests)
            sample.collected = self.final.finished - got_before
        self.samples.append(sample)
        return sample


@dataclass
class ThroughputRow:
    kind: str
    variant: str
    rate: float
    ratio: float
    ratio_range: tuple[float, float]
    cpu: float
    wrk_cpu: float
    sidecar_cpu: float
    machine: float
    main_us: float
    capture_us: float
    check: str
    drain: float
    ok: bool


def throughput(rounds: int, seconds: int, directory: str) -> list[ThroughputRow]:
    wrk = find_wrk()
    rows: list[ThroughputRow] = []
    port = 18300
    for kind, bare, wrapped in (
        ("uvicorn", "bench.apps:asgi_bare", f"{APP}:asgi_wrapped"),
        ("gunicorn", "bench.apps:wsgi_bare()", f"{APP}:wsgi_wrapped()"),
    ):
        connections = CONNECTIONS[kind]
        stats_dir = tempfile.mkdtemp(prefix=f"{kind}-stats-", dir=directory)
        sidecars: list[Sidecar] = []
        servers: list[BusServer] = []
        try:
            collector = StoreCollector(directory, f"{kind}-collector")
            sidecars.append(collector)
            listen = ListenCollector(directory, f"{kind}-listen")
            sidecars.append(listen)
            plan: list[tuple[str, str, Sidecar | None]] = [
                ("bare", bare, None),
                ("capture, INSPECTOR_BUS=off", wrapped, None),
                ("capture -> collector", wrapped, collector),
                ("capture -> listen --no-tui --save", wrapped, listen),
            ]
            for variant, target, sidecar in plan:
                bus = sidecar.address if sidecar else "off"
                servers.append(BusServer(kind, variant, target, port, bus=bus, sidecar=sidecar))
                port += 1
            for server in servers:
                server.start(stats_dir)
            for server in servers:
                server.wait_ready()
            for server in servers:  # warm up
                server.measure(wrk, 1, connections)
                server.samples.clear()
            for r in range(rounds):
                for server in servers[r % len(servers) :] + servers[: r % len(servers)]:
                    s = server.measure(wrk, seconds, connections)
                    print(
                        f"    round {r + 1} {kind} {server.variant}: {s.rate:,.0f} req/s;"
                        f" CPU server {s.cpu:.2f}, wrk {s.wrk_cpu:.2f}, machine {s.machine:.2f}"
                        + (
                            f", {server.sidecar.label} {s.sidecar_cpu:.2f};"
                            f" collected {s.collected:,} of {s.served:,} served,"
                            f" caught up {s.drain:.1f} s after wrk"
                            if server.sidecar
                            else ""
                        ),
                        flush=True,
                    )
        finally:
            for server in servers:
                server.stop()
            for server in servers:  # what the sinks sent while the servers stopped
                if server.sidecar is not None and server.final is not None:
                    server.final, _ = wait_drained(server.sidecar, server.requests, 10)
            for sidecar in sidecars:
                sidecar.stop()
        for server in servers:
            for path in Path(stats_dir).glob("*.json"):
                if int(path.stem) in server.pids:
                    server.report.append(json.loads(path.read_text()))
        rows += throughput_rows(kind, servers)
    return rows


def throughput_rows(kind: str, servers: list[BusServer]) -> list[ThroughputRow]:
    rows = []
    bare = servers[0].samples
    for server in servers:
        samples = server.samples
        ratios = [s.rate / b.rate for s, b in zip(samples, bare, strict=True)]
        check, ok = verify(server)
        row = ThroughputRow(
            kind,
            server.variant,
            statistics.median(s.rate for s in samples),
            statistics.median(ratios),
            (min(ratios), max(ratios)),
            statistics.median(s.cpu for s in samples),
            statistics.median(s.wrk_cpu for s in samples),
            statistics.median(s.sidecar_cpu for s in samples),
            statistics.median(s.machine for s in samples),
            statistics.median(s.main_us for s in samples),
            statistics.median(s.capture_us for s in samples),
            check,
            max((s.drain for s in samples), default=0.0),
            ok,
        )
        rows.append(row)
        print(
            f"  {kind} {server.variant}: {row.rate:,.0f} req/s"
            f" (runs {', '.join(f'{s.rate:,.0f}' for s in samples)});"
            f" vs bare {row.ratio:.1%} ({row.ratio_range[0]:.0%}-{row.ratio_range[1]:.0%});"
            f" server CPU/request {row.main_us:,.0f} µs main thread + {row.capture_us:,.0f} µs"
            f" other threads; CPU cores server {row.cpu:.2f}, wrk {row.wrk_cpu:.2f}"
            + (f", {server.sidecar.label} {row.sidecar_cpu:.2f}" if server.sidecar else "")
            + f", whole machine {row.machine:.2f}; {check}",
            flush=True,
        )
    return rows


def verify(server: BusServer) -> tuple[str, bool]:
    """What the exit reports and the collector say about this server's events."""
    if server.variant == "bare":
        return "", True
    reports = server.report
    if not reports:
        return "no bus report at exit (did the server exit cleanly?)", False
    delivered = sum(r["delivered"] for r in reports)
    bus_dropped = sum(r["bus_dropped"] for r in reports)
    errors = sum(r["capture_errors"] + r["subscriber_errors"] for r in reports)
    per_request = delivered / max(server.requests, 1)
    if server.sidecar is None:
        ok = not (bus_dropped or errors)
        return f"{per_request:.2f} events/request, bus dropped {bus_dropped}", ok
    sent = sum(r["sink_sent"] for r in reports)
    sink_dropped = sum(r["sink_dropped"] for r in reports)
    final = server.final or Counts()
    missing = sum(max(s.served - s.collected, 0) for s in server.samples)
    extra = sum(max(s.collected - s.served, 0) for s in server.samples)
    ok = not (bus_dropped or sink_dropped or final.dropped or errors or missing)
    text = (
        f"{final.finished:,} exchanges collected for {server.requests:,} requests served"
        f" (per run: {missing:,} missing, {extra:,} more than wrk counted);"
        f" dropped: app bus {bus_dropped:,}, sink {sink_dropped:,},"
        f" collector {final.dropped:,}; sink sent {sent:,} events, collector took"
        f" {final.events:,}"
    )
    return text, ok


def cpu_bound(row: ThroughputRow) -> str:
    """Who used (nearly) a whole core. A server runs one worker process: with the GIL, one
    core is all it can use, whatever its threads."""
    cores = {"server": row.cpu, "wrk": row.wrk_cpu}
    if "->" in row.variant:
        cores["collector" if "collector" in row.variant else "listen"] = row.sidecar_cpu
    busy = [f"{name} ({cpu:.2f} cores)" for name, cpu in cores.items() if cpu >= 0.9]
    cpus = os.cpu_count() or 1
    ours = sum(cores.values())
    if row.machine >= 0.9 * cpus:
        others = row.machine - ours
        busy.append(f"all {cpus} cores busy ({row.machine:.2f}; {others:.2f} outside these)")
    return ", ".join(busy) or f"none: {row.machine:.2f} of {cpus} cores busy"


# -- 2. capacity -----------------------------------------------------------------------------


@dataclass
class CapacityRun:
    label: str
    offered: float  # events/s in total, 0: unpaced
    bound: int | None
    seconds: float
    sender: str = "sender"  # or "replay" (pre-encoded lines, no capture, no codec)
    produced: float = 0.0  # events/s the senders recorded
    received: float = 0.0  # events/s the collector decoded while the senders ran
    folded: float = 0.0  # events/s it folded into the store meanwhile
    sent: int = 0
    taken: int = 0
    dropped_senders: int = 0
    dropped_collector: int = 0
    drain: float = 0.0
    cpu: float = 0.0  # collector cores while the senders ran
    reader_cpu: float = 0.0
    fold_cpu: float = 0.0
    senders_cpu: float = 0.0
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MiB)
    rss_ready: float = 0.0
    rss_after: float = 0.0
    exchanges: int = 0
    evicted: int = 0
    store_mb: float = 0.0

    @property
    def kept_up(self) -> bool:
        if self.sender == "replay":  # it waits on the socket: there is no rate to keep up with
            return self.dropped_collector == 0 and self.taken >= self.sent
        return (
            self.dropped_senders == 0
            and self.dropped_collector == 0
            and self.taken >= self.sent
            and self.received >= 0.97 * self.produced
            and self.drain <= 1.0
        )


def capacity_run(run: CapacityRun, directory: str, profile: str = "") -> CapacityRun:
    collector = StoreCollector(directory, "capacity", run.bound, profile)
    senders: list[subprocess.Popen[str]] = []
    try:
        time.sleep(0.3)
        run.rss_ready = rss_mb(collector.pid)
        start_at = time.time() + 1.5  # the senders' imports take a while on a busy machine
        for index in range(SENDERS):
            argv = [sys.executable, "-m", APP, run.sender, collector.address]
            argv += ["--rate", str(run.offered / SENDERS), "--seconds", str(run.seconds)]
            argv += ["--start-at", str(start_at), "--index", str(index)]
            senders.append(subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True))
        while time.time() < start_at:
            time.sleep(0.01)
        t0 = time.monotonic()
        window_end = t0 + run.seconds
        # (t, stats, collector CPU, senders' CPU) every 0.5 s while the senders produce
        samples: list[tuple[float, dict[str, Any], float, float]] = []
        reports: dict[int, dict[str, Any]] = {}
        folded, changed = -1, t0
        while True:
            now = time.monotonic()
            for i, sender in enumerate(senders):
                if i not in reports and sender.poll() is not None:
                    assert sender.stdout is not None
                    text = sender.stdout.read()
                    if sender.returncode or not text:
                        raise SystemExit(f"sender {i} failed ({sender.returncode})")
                    reports[i] = json.loads(text)
            if now < window_end + 0.1 and now - t0 < 0.5 * len(samples):
                time.sleep(0.02)
                continue
            stats = collector.stats()
            if now < window_end + 0.1:
                senders_cpu = sum(proc_cpu(s.pid) for s in senders)
                samples.append((now - t0, stats, proc_cpu(collector.pid), senders_cpu))
            if not run.rss or now - t0 >= run.rss[-1][0] + 0.5:
                run.rss.append((now - t0, rss_mb(collector.pid)))
            if stats["folded"] != folded:
                folded, changed = stats["folded"], now
            if len(reports) == len(senders):
                sent = sum(r["sink_sent"] for r in reports.values())
                if stats["received"] >= sent and stats["bus_queued"] == 0:
                    break
            if now > window_end and (now - changed > 2 or now - window_end > 60):
                break  # stalled, or hopelessly behind
            time.sleep(0.02)
        run.drain = max(0.0, changed - window_end)
        run.sent = sum(r["sink_sent"] for r in reports.values())
        run.dropped_senders = sum(r["bus_dropped"] + r["sink_dropped"] for r in reports.values())
        run.produced = sum(r["recorded"] for r in reports.values()) / run.seconds
        final = collector.stats()
        run.rss_after = rss_mb(collector.pid)
        run.taken = final["received"]
        run.dropped_collector = final["bus_dropped"] + final["reported_dropped"]
        run.exchanges, run.evicted = final["exchanges"], final["evicted"]
        run.store_mb = final["store_bytes"] / (1 << 20)
        window = [s for s in samples if s[0] >= 0.5]
        if len(window) >= 2:
            (ta, a, ca, sa), (tb, b, cb, sb) = window[0], window[-1]
            span = tb - ta
            run.received = (b["received"] - a["received"]) / span
            run.folded = (b["folded"] - a["folded"]) / span
            run.cpu = (cb - ca) / span
            run.reader_cpu = (b["threads"]["collector"] - a["threads"]["collector"]) / span
            run.fold_cpu = (b["threads"]["bus"] - a["threads"]["bus"]) / span
            run.senders_cpu = (sb - sa) / span
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
        collector.stop()
    return run


def capacity(
    paced: list[CapacityRun], once: list[CapacityRun], repeats: int, directory: str
) -> list[CapacityRun]:
    """The paced runs `repeats` times, interleaved (reversed every other round), then the
    others once; of the repeats, the worse is kept: it tells whether the collector keeps up."""
    results: list[list[CapacityRun]] = [[] for _ in paced + once]
    rounds = [list(range(len(paced)))[:: -1 if r % 2 else 1] for r in range(repeats)]
    for order in [*rounds, list(range(len(paced), len(paced) + len(once)))]:
        for i in order:
            p = (paced + once)[i]
            run = capacity_run(
                CapacityRun(p.label, p.offered, p.bound, p.seconds, p.sender), directory
            )
            results[i].append(run)
            print(f"    {describe(run)}", flush=True)
    return [min(runs, key=lambda run: (run.kept_up, run.received)) for runs in results]


def describe(run: CapacityRun) -> str:
    rss = rss_points(run)
    return (
        f"{run.label}: produced {run.produced:,.0f}/s, collector received {run.received:,.0f}/s,"
        f" folded {run.folded:,.0f}/s; dropped senders {run.dropped_senders:,},"
        f" collector {run.dropped_collector:,}; took {run.taken:,} of {run.sent:,} sent;"
        f" caught up {run.drain:.1f} s after; CPU collector {run.cpu:.2f}"
        f" (reader {run.reader_cpu:.2f}, fold {run.fold_cpu:.2f}), senders {run.senders_cpu:.2f};"
        f" RSS MiB {rss}; store {run.exchanges:,} exchanges ({run.store_mb:,.0f} MiB by its"
        f" count), {run.evicted:,} evicted; {'keeps up' if run.kept_up else 'FALLS BEHIND'}"
    )


def rss_points(run: CapacityRun) -> str:
    """RSS when ready, then at each quarter of the sending window, the peak and after."""
    points = [run.rss_ready]
    for quarter in (0.25, 0.5, 0.75, 1.0):
        at = [mb for t, mb in run.rss if t <= quarter * run.seconds + 0.25]
        points.append(at[-1] if at else 0.0)
    peak = max((mb for _, mb in run.rss), default=0.0)
    return " -> ".join(f"{mb:,.0f}" for mb in points) + f" (peak {peak:,.0f})"


def capacity_plan(quick: bool) -> tuple[list[CapacityRun], list[CapacityRun]]:
    """The paced runs (repeated), and the runs made once: a small store, and the ceiling."""
    if quick:
        rates, seconds, small, ceiling = (20_000,), 2.0, 3.0, 2.0
    else:
        rates, seconds, small, ceiling = (5_000, 10_000, 20_000, 40_000), 5.0, 10.0, 10.0
    paced = [CapacityRun(f"{rate:,} events/s", rate, None, seconds) for rate in rates]
    once = [
        CapacityRun(f"{TARGET_EVENTS:,} events/s", TARGET_EVENTS, SMALL_STORE, small),
        CapacityRun("replay, unpaced", 0, None, ceiling, "replay"),
    ]
    return paced, once


# -- 3. where the collector's time goes ------------------------------------------------------


@dataclass
class KindCost:
    kind: str
    count: int
    wire_bytes: float
    dumps_us: float = 0.0
    json_us: float = 0.0  # json.loads alone, results dropped at once
    loads_us: float = 0.0  # codec.loads, results dropped at once
    kept_gc_off_us: float = 0.0  # codec.loads, results kept (as a store keeps them), gc off
    kept_us: float = 0.0  # ... gc on
    kept_full_us: float = 0.0  # ... gc on, a filled store alive in the process


@dataclass
class Costs:
    kinds: list[KindCost]
    pipeline: dict[str, float]  # µs/event for codec.loads + Store.add, by condition
    held: int
    objects: int


def per_event_costs(exchanges: int, held: int) -> Costs:
    """What the collector's per-event work costs on one core, the events made by real capture.

    Decoding allocates many small containers (header pairs, the snapshot's dicts and lists)
    and a store keeps them, so the garbage collector's passes over them are part of the cost:
    each decode is timed with its results dropped, kept with the gc off, kept with the gc on,
    and kept with a filled store alive (more objects for each full collection to walk)."""
    import asyncio

    from bench.collector_apps import kib_app, sender_scope
    from inspector import ASGIInspectorMiddleware, EventBus, codec
    from inspector.store import Store

    def capture(n: int) -> list[Any]:
        got: list[Any] = []
        bus = EventBus()
        bus.subscribe(got.extend)
        app = ASGIInspectorMiddleware(kib_app, bus=bus)
        scope = sender_scope()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        async def calls() -> None:
            for _ in range(n):
                await app(dict(scope), receive, send)

        asyncio.run(calls())
        bus.close()
        return got

    events = capture(exchanges)
    kinds: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        kinds.setdefault(type(event).__name__, []).append(i)

    def timed(function: Callable[[], Any], n: int, repeat: int = 3) -> float:
        times = []
        for _ in range(repeat):
            gc.collect()
            start = time.perf_counter()
            result = function()
            times.append((time.perf_counter() - start) / n * 1e6)
            del result  # outside the clock: "kept" results live until the clock stopped
        return statistics.median(times)

    # Encoding once per event, as the sink does: the first read of a request's snapshot
    # makes it JSON-safe (and caches it), so a second encoding would cost less.
    encoded: dict[int, bytes] = {}
    dumps_us: dict[str, float] = {}
    for kind, indexes in kinds.items():
        start = time.perf_counter()
        for i in indexes:
            encoded[i] = codec.dumps(events[i]).encode()
        dumps_us[kind] = (time.perf_counter() - start) / len(indexes) * 1e6
    lines = [encoded[i] for i in range(len(events))]

    def json_all(raw: list[bytes]) -> None:
        for line in raw:
            json.loads(line)

    def loads_all(raw: list[bytes]) -> None:
        for line in raw:
            codec.loads(line)

    def loads_kept(raw: list[bytes]) -> list[Any]:
        return [codec.loads(line) for line in raw]

    def pipeline(store: Store) -> None:
        loads = codec.loads
        for i in range(0, len(lines), 500):  # the collector hands over batches
            store.add([loads(line) for line in lines[i : i + 500]])

    costs = []
    for kind, indexes in kinds.items():
        raw = [lines[i] for i in indexes]
        cost = KindCost(kind, len(indexes), statistics.fmean(len(line) + 1 for line in raw))
        cost.dumps_us = dumps_us[kind]
        cost.json_us = timed(partial(json_all, raw), len(raw))
        cost.loads_us = timed(partial(loads_all, raw), len(raw))
        gc.disable()
        cost.kept_gc_off_us = timed(partial(loads_kept, raw), len(raw))
        gc.enable()
        cost.kept_us = timed(partial(loads_kept, raw), len(raw))
        costs.append(cost)
    n = len(lines)
    results = {"store empty, gc on": timed(lambda: pipeline(Store()), n)}
    gc.disable()
    results["store empty, gc off"] = timed(lambda: pipeline(Store()), n)
    gc.enable()
    # A viewer that has been up a while: fill a store as a collector would (decoded events).
    full = Store()
    for chunk in range(0, held, 5_000):
        filler = [codec.dumps(e).encode() for e in capture(min(5_000, held - chunk))]
        full.add([codec.loads(line) for line in filler])
    objects = len(gc.get_objects())
    for cost in costs:
        raw = [lines[i] for i in kinds[cost.kind]]
        cost.kept_full_us = timed(partial(loads_kept, raw), len(raw))
    results[f"{held:,} exchanges held, gc on"] = timed(partial(pipeline, full), n, 1)
    gc.disable()
    results[f"{held:,} exchanges held, gc off"] = timed(partial(pipeline, full), n, 1)
    gc.enable()
    del full
    gc.collect()
    return Costs(costs, results, held, objects)


def print_profile(prefix: str, top: int = 14) -> str:
    """The top functions by own time of each collector thread's cProfile."""
    out = []
    for thread, what in (
        ("main", "reader thread (asyncio: read, split, codec.loads)"),
        ("bus", "bus thread (EventBus build + Store.add)"),
    ):
        path = f"{prefix}.{thread}"
        if not os.path.exists(path):
            continue
        stats = pstats.Stats(path)
        entries = stats.stats.items()  # type: ignore[attr-defined]
        # cProfile clocks wall time: leave out the calls that wait (for data, or idle)
        waiting = sum(
            tottime
            for (_, _, name), (_, _, tottime, _, _) in entries
            if name in ("<method 'poll' of 'select.epoll' objects>", "<built-in method time.sleep>")
        )
        total = stats.total_tt - waiting  # type: ignore[attr-defined]
        rows = sorted(
            (e for e in entries if "poll' of" not in e[0][2] and "time.sleep" not in e[0][2]),
            key=lambda item: item[1][2],
            reverse=True,
        )[:top]
        out.append(f"  {what}: {total:.2f} s busy, {waiting:.2f} s waiting (left out)")
        for (filename, line, name), (_, calls, tottime, cumtime, _) in rows:
            where = f"{Path(filename).name}:{line}({name})" if line else name
            out.append(
                f"    {tottime / total:6.1%} own {tottime:6.2f} s, cum {cumtime:6.2f} s,"
                f" {calls:>9,} calls  {where}"
            )
    return "\n".join(out)


# -- report ----------------------------------------------------------------------------------


def throughput_table(rows: list[ThroughputRow], rounds: int, seconds: int) -> str:
    lines = [
        "| server, load | variant | req/s (median) | vs bare | server CPU/request: main thread"
        " + other threads | CPU cores: server / collector / wrk / whole machine | CPU-bound"
        " | every exchange collected? | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        c = CONNECTIONS[row.kind]
        load = (
            f"uvicorn 1 worker, wrk -t1 -c{c} -d{seconds}s"
            if row.kind == "uvicorn"
            else f"gunicorn sync 1 worker, wrk -t1 -c{c} -d{seconds}s"
        )
        side = f"{row.sidecar_cpu:.2f}" if "->" in row.variant else "-"
        target = ""
        if row.variant == "capture -> collector":
            goal = TARGET_RATIO[row.kind]
            target = f">= {goal:.0%}: {'met' if row.ratio >= goal else 'MISSED'}"
        check = row.check or "n/a"
        if "->" in row.variant:
            check = ("yes" if row.ok else "NO") + f", caught up <= {row.drain:.1f} s; {check}"
        elif row.check:
            check = ("clean" if row.ok else "NOT CLEAN") + f": {check}"
        lines.append(
            f"| {load} | {row.variant} | {row.rate:,.0f} | {row.ratio:.1%}"
            f" ({row.ratio_range[0]:.0%}-{row.ratio_range[1]:.0%})"
            f" | {row.main_us:,.0f} + {row.capture_us:,.0f} µs"
            f" | {row.cpu:.2f} / {side} / {row.wrk_cpu:.2f} / {row.machine:.2f}"
            f" | {cpu_bound(row)} | {check} | {target} |"
        )
    lines.append(
        f"\nMedians of {rounds} interleaved rounds; 'vs bare' is the median (and range) over"
        " rounds of the variant's rate / bare's rate in the same round. 'Other threads' are"
        " capture's bus and sink threads (uvicorn/gunicorn start none here)."
    )
    return "\n".join(lines)


def capacity_table(runs: list[CapacityRun], repeats: int) -> str:
    lines = [
        "| offered (4 senders) | store bound | received / folded (events/s) | drops |"
        " caught up after | collector CPU cores (reader / fold) | senders CPU |"
        " collector RSS MiB: ready -> 1/4 -> 1/2 -> 3/4 -> end of sending (peak) |"
        " store at the end | keeps up? |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        default = f"default ({DEFAULT_MAX_EXCHANGES:,}; {DEFAULT_MAX_BYTES >> 20:,} MiB)"
        bound = f"max_exchanges {run.bound:,}" if run.bound else default
        offered = run.label
        if run.sender == "replay":
            offered = "as fast as the collector reads (replay of pre-encoded lines)"
        grown = run.rss_after - run.rss_ready
        per_store = run.store_mb * 1024 / max(run.exchanges, 1)
        per_rss = grown * 1024 / max(run.exchanges, 1)
        keeps = "yes" if run.kept_up else "NO"
        if run.sender == "replay":
            keeps = f"ceiling{'' if run.kept_up else ', with drops'}"
        lines.append(
            f"| {offered} | {bound} | {run.received:,.0f} / {run.folded:,.0f}"
            f" | senders {run.dropped_senders:,}, collector {run.dropped_collector:,}"
            f" (took {run.taken:,} of {run.sent:,} sent) | {run.drain:.1f} s"
            f" | {run.cpu:.2f} ({run.reader_cpu:.2f} / {run.fold_cpu:.2f})"
            f" | {run.senders_cpu:.2f} | {rss_points(run)}"
            f" | {run.exchanges:,} exchanges, {run.evicted:,} evicted; by its count"
            f" {run.store_mb:,.0f} MiB ({per_store:.1f} KiB/exchange), RSS grew"
            f" {grown:,.0f} MiB ({per_rss:.1f} KiB/exchange)"
            f" | {keeps} |"
        )
    target_runs = [r for r in runs if r.offered == TARGET_EVENTS]
    met = all(r.kept_up for r in target_runs) and bool(target_runs)
    lines.append(
        f"\nTarget: keeps up with >= {TARGET_EVENTS:,} events/s: {'met' if met else 'MISSED'}."
        f" {EVENTS_PER_EXCHANGE} events per exchange (GET, 10 request headers, 1 KiB response"
        f" body). Rates are measured at the collector while the senders ran; each row is the"
        f" worse of {repeats} run(s). 'Keeps up' means: nothing dropped, everything sent was"
        " taken, received >= 97% of what was produced, caught up within 1 s."
    )
    return "\n".join(lines)


def costs_table(costs: Costs) -> str:
    lines = [
        "| event | bytes on the wire | codec.dumps (sender) | json.loads | codec.loads"
        " | codec.loads, kept, gc off | kept, gc on | kept, gc on, filled store alive |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in costs.kinds:
        lines.append(
            f"| {c.kind} | {c.wire_bytes:,.0f} | {c.dumps_us:.1f} | {c.json_us:.1f}"
            f" | {c.loads_us:.1f} | {c.kept_gc_off_us:.1f} | {c.kept_us:.1f}"
            f" | {c.kept_full_us:.1f} |"
        )
    mean = {
        key: statistics.fmean(getattr(c, key) for c in costs.kinds)
        for key in ("dumps_us", "json_us", "loads_us", "kept_gc_off_us", "kept_us", "kept_full_us")
    }
    wire = statistics.fmean(c.wire_bytes for c in costs.kinds)
    lines.append(
        f"| mean of the {EVENTS_PER_EXCHANGE} | {wire:,.0f}"
        + "".join(f" | {value:.1f}" for value in mean.values())
        + " |"
    )
    pipeline = "; ".join(
        f"{label}: {us:.1f} µs/event (at most {1e6 / us:,.0f} events/s on one core)"
        for label, us in costs.pipeline.items()
    )
    lines.append(
        "\nµs per event, one core, results of the timed call alive until the clock stops"
        " ('kept'), as a store keeps them. Decode + fold (codec.loads, then Store.add in"
        f" batches of 500): {pipeline}. With the filled store, the gc tracked"
        f" {costs.objects:,} objects."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument(
        "--only", choices=("throughput", "capacity", "costs"), help="run one part only"
    )
    parser.add_argument(
        "--profile", action="store_true", help="always cProfile the collector in an unpaced run"
    )
    args = parser.parse_args()
    rounds, seconds = (2, 1) if args.quick else (5, 4)  # whole seconds: wrk wants "4s"
    repeats = 1 if args.quick else 2
    exchanges, held = (1_000, 5_000) if args.quick else (4_000, 50_000)
    part = args.only
    if part in (None, "throughput"):
        find_wrk()
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()};"
        f" uvicorn {uvicorn_impl()}",
        flush=True,
    )
    commands = [
        f"wrk -t1 -c32 (uvicorn) or -c4 (gunicorn) -d{seconds:g}s http://127.0.0.1:PORT/",
        "INSPECTOR_BUS=off|unix:SOCK python -m uvicorn --factory"
        " bench.collector_apps:asgi_wrapped --port PORT --log-level warning --no-access-log",
        "INSPECTOR_BUS=off|unix:SOCK python -m gunicorn 'bench.collector_apps:wsgi_wrapped()'"
        " -w 1 -k sync -b 127.0.0.1:PORT",
        "python -m bench.collector_apps collector unix:SOCK [--max-exchanges 10000]",
        "python -m tui listen --bus unix:SOCK --no-tui --save FILE > /dev/null",
        "python -m bench.collector_apps sender unix:SOCK --rate R/4 --seconds S  (x4)",
        "python -m bench.collector_apps replay unix:SOCK --seconds S  (x4)",
    ]
    out: list[str] = []
    missed_capacity = False
    with tempfile.TemporaryDirectory(prefix="bench-collector-") as directory:
        if part in (None, "throughput"):
            print(
                f"1. Throughput: {rounds} interleaved rounds of wrk -d{seconds:g}s per variant,"
                " after a 1 s warm-up",
                flush=True,
            )
            rows = throughput(rounds, seconds, directory)
            out.append(throughput_table(rows, rounds, seconds))
        if part in (None, "capacity"):
            paced, once = capacity_plan(args.quick)
            print(
                f"2. Collector capacity: {SENDERS} senders; {repeats} round(s) of"
                f" {len(paced)} paced runs, then {len(once)} runs once",
                flush=True,
            )
            runs = capacity(paced, once, repeats, directory)
            for run in runs:
                print(f"  {describe(run)}", flush=True)
            out.append(capacity_table(runs, repeats))
            missed_capacity = not all(r.kept_up for r in runs if r.offered == TARGET_EVENTS)
        if part in (None, "costs"):
            print("3. Per-event costs in isolation", flush=True)
            table = costs_table(per_event_costs(exchanges, held))
            print(table, flush=True)
            out.append(table)
        if args.profile or missed_capacity:
            print("Profiling the collector (cProfile in both threads), replay senders, unpaced:")
            prefix = os.path.join(directory, "profile")
            seconds = 3.0 if args.quick else 5.0
            run = CapacityRun("replay, cProfile on", 0, None, seconds, "replay")
            print(f"  {describe(capacity_run(run, directory, prefix))}")
            profile = print_profile(prefix)
            print(profile, flush=True)
            out.append(
                "cProfile of the collector (replay senders, unpaced; cProfile slows it down):"
                "\n\n```\n" + profile + "\n```"
            )
    print()
    print("\n\n".join(out))
    print(
        f"\nCommands: `.venv/bin/python bench/collector.py{' --quick' if args.quick else ''}`"
        " runs these (PORT, SOCK, FILE, R, S chosen by the bench):\n"
    )
    for command in commands:
        print(f"    {command}")


if __name__ == "__main__":
    main()
