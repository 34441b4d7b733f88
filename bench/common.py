"""What the benchmarks share: starting the commands users run, wrk, CPU accounting, rounds.

- `Processes` starts every server, proxy and listener a bench needs (the `.venv/bin` commands,
  as a user types them), notes each command line for the report, and stops them all at exit.
- `Listener` is `inspector listen --no-tui --save FILE` (stdout to /dev/null); `SessionCount`
  follows its session file: exchanges finished and events reported dropped.
- `wrk()` runs `wrk -t1 --latency` and returns throughput, p50/p99 and wrk's own CPU time.
- `cpu_seconds()` reads a process's CPU time (all threads) from /proc: on 2 shared cores the
  question after every run is which process was CPU-bound, so each run records the CPU share
  of every process involved.
- `rotations()` interleaves variants over rounds; `median`, `spread`, `table` report them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
"""`.venv/bin`: where `inspector`, `inspect-proxy`, `uvicorn` and `gunicorn` are installed."""
TICK = os.sysconf("SC_CLK_TCK")
COMMANDS: list[str] = []
"""Every command line a bench ran, in order, for the report."""


def note(argv: Sequence[str | Path]) -> None:
    line = shlex.join(str(arg).replace(str(ROOT) + "/", "") for arg in argv)
    if line not in COMMANDS:
        COMMANDS.append(line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[Any] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise SystemExit(f"{shlex.join(map(str, process.args))} exited at start") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s") from None
            time.sleep(0.05)


# -- CPU ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, every thread; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def family(pid: int) -> list[int]:
    """`pid` and its descendants (gunicorn's workers, inspect-proxy's observer child)."""
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
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def cpu_of(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}


def children_cpu() -> float:
    """CPU time of the children this process has reaped (wrk, the WebSocket client)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> float:
    """CPU seconds every core spent busy (not idle, not waiting for I/O) since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


class CpuMeter:
    """CPU seconds of named process groups over a span, as shares of one core, plus
    `others`: everything else on the machine (other users of these 2 cores) in that span."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.start = cpu_of(groups)
        self.machine = machine_cpu()
        self.clock = time.monotonic()

    def seconds(self) -> dict[str, float]:
        now = cpu_of(self.groups)
        return {name: now[name] - self.start[name] for name in self.groups}

    def shares(self, **extra_seconds: float) -> dict[str, float]:
        """Shares so far; `extra_seconds` adds processes measured otherwise (wrk, by rusage)."""
        wall = time.monotonic() - self.clock
        used = self.seconds() | extra_seconds
        others = machine_cpu() - self.machine - sum(used.values())
        return {name: seconds / wall for name, seconds in used.items()} | {
            "others": max(others, 0.0) / wall
        }


QUIET = {"waited": 0.0, "gave_up": 0}


def wait_quiet(limit: float = 0.3, timeout: float = 90.0) -> None:
    """Wait until the rest of the machine uses under `limit` of a core: other people's test
    runs share these 2 cores, and a run measured beside them measures them too. Gives up
    after `timeout` (counted in `QUIET`; the `others` share of each run shows what it met)."""
    start = time.monotonic()
    while True:
        before = machine_cpu()
        time.sleep(0.5)
        if (machine_cpu() - before) / 0.5 <= limit:
            break
        if time.monotonic() - start > timeout:
            QUIET["gave_up"] += 1
            break
    QUIET["waited"] += time.monotonic() - start - 0.5


def quiet_note() -> str:
    return (
        f"Before each measurement the bench waited for the rest of the machine to go under 30% "
        f"of a core: {QUIET['waited']:.0f} s in all, gave up {QUIET['gave_up']} times."
    )


def bound(shares: dict[str, float]) -> str:
    """Which process was CPU-bound, from each one's share of a core during a run."""
    busy = [name for name, share in shares.items() if share >= 0.85]
    if busy:
        return " + ".join(busy)
    if sum(shares.values()) >= 1.8:
        return "both cores busy"
    return "none (latency-bound)"


def shares_text(shares: dict[str, float]) -> str:
    return " / ".join(f"{share:.0%}" for share in shares.values())


# -- processes ---------------------------------------------------------------------------------


def _exit_on_sigterm(number: int, frame: object) -> None:
    raise SystemExit(128 + number)


class Processes:
    """The processes a bench started; all stopped (SIGINT, then SIGKILL) when it ends."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []
        self.cleanups: list[Callable[[], None]] = []
        """Run first at exit, newest first (for what is not a child process: a tmux server)."""
        self._logs: list[IO[bytes]] = []

    def start(
        self, argv: Sequence[str | Path], name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in the repository root, stdout to /dev/null, stderr to NAME.log."""
        note(argv)
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 (closed at exit)
        self._logs.append(log)
        process = subprocess.Popen(
            [str(arg) for arg in argv],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, **(env or {})},
        )
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def __enter__(self) -> Processes:
        # SIGTERM (`timeout`, a closed terminal) ends the bench through `__exit__` too, so the
        # servers and the tmux viewer it started never outlive it.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self

    def __exit__(self, *exc: object) -> None:
        for cleanup in reversed(self.cleanups):
            cleanup()
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in reversed(self.started):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()


class SessionCount:
    """Follows a session file as it grows: exchanges finished, and records reported lost."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished = 0
        self.dropped = 0
        self._offset = 0
        self._rest = b""

    def read(self) -> int:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return self.finished
        self._offset += len(data)
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        whole, self._rest = data[:cut], data[cut:]
        self.finished += whole.count(b'{"event":"ExchangeFinished"')
        for line in re.findall(rb'^\{"event":"EventsDropped".*$', whole, re.MULTILINE):
            self.dropped += json.loads(line)["count"]
        return self.finished

    def settle(self, at_least: int, timeout: float = 60, quiet: float = 0.3) -> int:
        """Wait until `at_least` exchanges finished and no more arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        last, since = self.read(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.read()
            if now != last:
                last, since = now, time.monotonic()
            elif now >= at_least and time.monotonic() - since >= quiet:
                break
        return last


class Listener:
    """`inspector listen --bus unix:... --no-tui --save FILE`, stdout to /dev/null."""

    def __init__(self, processes: Processes, name: str) -> None:
        socket_path = processes.directory / f"{name}.sock"
        self.address = f"unix:{socket_path}"
        self.save = processes.directory / f"{name}.jsonl"
        argv = [BIN / "inspector", "listen", "--bus", self.address, "--no-tui"]
        self.process = processes.start([*argv, "--save", self.save], name)
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"inspector listen did not start:\n{processes.log(name)}")
            time.sleep(0.05)
        self.session = SessionCount(self.save)


# -- wrk ---------------------------------------------------------------------------------------


@dataclass
class Wrk:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str
    cpu: float
    """wrk's own CPU seconds."""
    wall: float


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(port: int, seconds: int, connections: int) -> Wrk:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    argv.append(f"http://127.0.0.1:{port}/")
    note([*argv[:-1], "http://127.0.0.1:PORT/"])
    cpu, start = children_cpu(), time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True)
    wall, cpu = time.monotonic() - start, children_cpu() - cpu
    out = result.stdout
    total = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if result.returncode or total is None or rate is None:
        raise SystemExit(f"wrk failed on port {port}:\n{out}{result.stderr}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))

    def ms(text: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(number) * _UNIT_MS[unit]

    errors = "; ".join(re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)", out))
    requests, rps = int(total.group(1)), float(rate.group(1))
    return Wrk(requests, rps, ms(latency["50"]), ms(latency["99"]), errors, cpu, wall)


# -- rounds and reports ------------------------------------------------------------------------


def rotations(variants: Sequence[str], rounds: int) -> Iterator[tuple[int, list[str]]]:
    """Each round runs every variant, starting one further along, so none always goes first."""
    for r in range(rounds):
        k = r % len(variants)
        yield r, [*variants[k:], *variants[:k]]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f} to {max(values):.{digits}f}" if values else "-"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def machine() -> str:
    import uvicorn

    return (
        f"{os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, uvicorn {uvicorn.__version__}, "
        f"{time.strftime('%Y-%m-%d')}"
    )


def print_commands() -> None:
    print("\nCommands run (ports and paths vary per run):\n\n```")
    print("\n".join(COMMANDS))
    print("```")
