"""`inspector run -- COMMAND`: capture a Python web server's traffic with no change to its code.

The command runs with the bootstrap installed (`inspector.bootstrap`): every Python process it
starts, workers and reloader children included, wraps the app where the server it runs loads
it, and streams to the viewer. The viewer is `inspector listen` in a child process
(`tui.observer.ObserverChild`, as for `inspect-proxy`), on a private socket whose address the
command's processes get in `INSPECTOR_BUS`.

- The command runs in a session of its own, so the terminal's Ctrl-C reaches only us; we stop
  its whole process group (SIGTERM, then SIGKILL after `STOP_GRACE` seconds). `q` in the
  viewer, Ctrl-C, SIGTERM or SIGHUP stop the command and the viewer; the command ending ends
  the viewer. `inspector run` exits with the command's status (128 + N for signal N).
- With the viewer on screen, the command's output goes to a log file whose path is printed
  and which the viewer shows with `L` (its stdin is /dev/null: keys are the viewer's); with
  `--no-tui` it passes through.
- Before starting, a command whose Python (itself, or its `#!` line) cannot import inspector
  is refused, naming that interpreter and how to install into it. While it runs, the report
  the bootstrap writes says what was captured where (on stderr with `--no-tui`, after the
  viewer closes otherwise); nothing captured at all ends in a message naming the middleware to
  add by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from inspector import bootstrap
from inspector.bootstrap.report import ReportReader
from tui.observer import ObserverChild

STOP_GRACE = 5.0
"""Seconds the command's processes get to exit after SIGTERM, before SIGKILL."""
_POLL = 0.2
_TAIL = 20
"""Lines of the log shown when the command failed while the viewer was on screen."""
_PYTHON = re.compile(r"python[0-9.]*")
SERVERS = "uvicorn, gunicorn, hypercorn, granian, daphne, waitress, werkzeug (flask run) and Django"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`inspector run`'s own arguments; the output and capture flags are `inspector
    listen`'s, passed on to the viewer."""
    parser.add_argument(
        "--log",
        metavar="FILE",
        help="with the viewer: where the command's output goes (default: a new file in "
        f"{tempfile.gettempdir()})",
    )
    # Not `command`: `inspector`'s subcommand is kept under that name.
    parser.add_argument(
        "server_command",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND",
        help="the server command and its arguments",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`inspector run` on its own: what `inspector run` in `tui.cli` does."""
    from tui.cli import _add_capture_flags, _add_output_flags

    parser = argparse.ArgumentParser(prog="inspector run")
    _add_output_flags(parser)
    _add_capture_flags(parser)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    command = list(args.server_command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("inspector run: which command? inspector run -- uvicorn app:app", file=sys.stderr)
        return 2
    program = shutil.which(command[0])
    if program is None:
        print(f"inspector run: {command[0]}: command not found", file=sys.stderr)
        return 127
    problem = interpreter_problem(program)
    if problem is not None:
        print(f"inspector run: {problem}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="inspector-run-") as private:
        return _Run(args, command, os.path.join(private, "report.jsonl")).run()


class _Run:
    def __init__(self, args: argparse.Namespace, command: list[str], report: str) -> None:
        self.args = args
        self.command = command
        self.report = report
        self.stopping = threading.Event()
        self.notes = Notes(ReportReader(report), command)
        self.log: Path | None = None

    def run(self) -> int:
        headless = bool(self.args.no_tui)
        output = None if headless else self._open_log()
        observer = ObserverChild(self.args, name="inspector run", on_stop=self.stopping.set)
        try:
            text = shlex.join(self.command)
            subtitle = text if self.log is None else f"{text}  (output: L, or {self.log})"
            log = None if self.log is None else str(self.log)
            observer.start("inspector run", subtitle, None, log)
            with _stopping_on_signals(self.stopping.set):
                try:
                    process = subprocess.Popen(
                        self.command,
                        env=bootstrap.environment(os.environ, observer.address, self.report),
                        start_new_session=True,  # the terminal's Ctrl-C is ours to pass on
                        stdin=None if headless else subprocess.DEVNULL,
                        stdout=output,
                        stderr=output,
                    )
                finally:
                    if output is not None:
                        output.close()  # the command has its own copy
                try:
                    self._wait(process, observer, headless)
                finally:
                    status = _Group(process).stop(STOP_GRACE)
        finally:
            observer.close()
        self._say_at_end(status)
        return status

    def _open_log(self) -> IO[bytes]:
        """The log file, created 0600 (a server's output can hold secrets), to append to."""
        if self.args.log is None:
            fd, name = tempfile.mkstemp(prefix="inspector-run-", suffix=".log")
        else:
            name = self.args.log
            fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.log = Path(name)
        print(f"inspector run: the command's output goes to {self.log}", file=sys.stderr)
        return os.fdopen(fd, "ab")

    def _wait(
        self, process: subprocess.Popen[bytes], observer: ObserverChild, headless: bool
    ) -> None:
        """Until the command ends, the viewer quits or goes, or we are told to stop. The
        report is read as it grows: said now with `--no-tui`, at the end otherwise."""
        viewer = observer.process
        while not self.stopping.is_set():
            if process.poll() is not None or (viewer is not None and viewer.poll() is not None):
                return
            if headless:
                for line in self.notes.read():
                    print(line, file=sys.stderr, flush=True)
            self.stopping.wait(_POLL)

    def _say_at_end(self, status: int) -> None:
        """What the report said and had not been said yet, why nothing was captured if it
        was not, and where the output went (its end too, when the command failed alone)."""
        for line in [*self.notes.read(), *self.notes.summary(self.log)]:
            print(line, file=sys.stderr)
        if self.log is not None:
            if status != 0 and not self.stopping.is_set():
                for line in _tail(self.log, _TAIL):
                    print(f"  | {line}", file=sys.stderr)
            print(f"inspector run: the command's output is in {self.log}", file=sys.stderr)


@contextlib.contextmanager
def _stopping_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal went away) call `stop`, which ends
    the command and the viewer together, instead of interrupting us half-way."""
    numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {number: signal.signal(number, lambda n, frame: stop()) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _Group:
    """The command's process group: the command and everything it started."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def stop(self, grace: float) -> int:
        """Stop every process of the group (SIGTERM, then SIGKILL past `grace` seconds) and
        return the command's status, as a shell gives it."""
        deadline = time.monotonic() + grace
        self._signal(signal.SIGTERM)
        while self.process.poll() is None or self._alive():
            if time.monotonic() > deadline:
                self._signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        status = self.process.wait()
        return 128 - status if status < 0 else status

    def _signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, number)

    def _alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True


class Notes:
    """What the bootstrap's report says, in words: each line once, as it arrives."""

    def __init__(self, reader: ReportReader, command: list[str]) -> None:
        self.reader = reader
        self.command = command
        self.pythons = 0
        self.hooked: list[str] = []
        self.apps = 0
        self._missing: set[str] = set()

    def read(self) -> list[str]:
        return [line for fields in self.reader.read() if (line := self._say(fields))]

    def _say(self, fields: dict[str, Any]) -> str | None:
        pid = fields.get("pid")
        if fields.get("started"):
            self.pythons += 1
            python = str(fields.get("python"))
            if fields.get("inspector") or python in self._missing:
                return None
            self._missing.add(python)
            return (
                f"inspector run: {python} (pid {pid}) cannot import inspector, so nothing is "
                f"captured in it; install inspector into it: {install_hint(python)}"
            )
        if "hooked" in fields:
            self.hooked.append(str(fields["hooked"]))
            return None
        interface = str(fields.get("interface", "")).upper()
        if "wrapped" in fields:
            self.apps += 1
            return (
                f"inspector run: capturing {fields['app']} ({interface}) served by "
                f"{fields['wrapped']} in pid {pid}"
            )
        if "left" in fields:
            self.apps += 1
            return (
                f"inspector run: {fields['app']} served by {fields['left']} in pid {pid} "
                "captures in code already: left as it is"
            )
        if "failed" in fields:
            return (
                f"inspector run: could not hook {fields['failed']} in pid {pid} "
                f"({fields.get('error')}): what it serves is not captured"
            )
        return None

    def summary(self, log: Path | None) -> list[str]:
        """Why nothing was captured, when nothing was."""
        if self.apps:
            return []
        name = os.path.basename(self.command[0])
        if self.hooked:
            where = f" (its output: {log})" if log is not None else ""
            return [f"inspector run: nothing was captured: `{name}` loaded no app{where}"]
        if self.pythons:
            why = f"`{name}` served no app through a server inspector knows"
        else:
            why = f"`{name}` started no Python that loaded inspector's bootstrap"
        return [
            f"inspector run: nothing was captured: {why} ({SERVERS}). For any other "
            "server, wrap the app in code: `app = ASGIInspectorMiddleware(app)` or "
            "`app = WSGIInspectorMiddleware(app)` (from inspector), and run `inspector listen`."
        ]


def interpreter(program: str) -> str | None:
    """The Python that runs `program`, when that can be told without running it: the program
    itself, or the interpreter its `#!` line names (console scripts have one)."""
    if _PYTHON.fullmatch(os.path.basename(program)):
        return program
    try:
        with open(program, "rb") as file:
            first = file.readline(512)
    except OSError:
        return None
    words = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else []
    if words and os.path.basename(words[0]) == "env":
        words = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
        found = shutil.which(words[0]) if words else None
        words = [found] if found else []
    if words and _PYTHON.fullmatch(os.path.basename(words[0])):
        return words[0]
    return None


def interpreter_problem(program: str) -> str | None:
    """Why `program` cannot be captured, if its Python is known and cannot import inspector
    (another virtualenv): this interpreter is taken on trust."""
    python = interpreter(program)
    if python is None or os.path.abspath(python) == os.path.abspath(sys.executable):
        return None
    # Without `-c`'s current directory on the path: a server's script does not have it.
    check = (
        "import importlib.util, sys; sys.path = [p for p in sys.path if p]; "
        "sys.exit(importlib.util.find_spec('inspector') is None)"
    )
    try:
        result = subprocess.run(
            [python, "-c", check], capture_output=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 1:
        return None
    return (
        f"`{os.path.basename(program)}` runs on {python}, which cannot import inspector, so "
        f"nothing it serves could be captured. Install inspector into it: "
        f"{install_hint(python)} (or run the command from {sys.prefix})"
    )


def install_hint(python: str) -> str:
    """The command that installs this inspector into `python`: from the same source tree
    when it was installed from one (PEP 610's direct_url.json), else by version."""
    command = f"{shlex.quote(python)} -m pip install"
    try:
        distribution = importlib.metadata.distribution("inspector")
        direct = json.loads(distribution.read_text("direct_url.json") or "{}")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return f"{command} inspector"
    url = str(direct.get("url", ""))
    if url.startswith("file://"):
        editable = bool(direct.get("dir_info", {}).get("editable"))
        source = shlex.quote(unquote(urlsplit(url).path))
        return f"{command} {'-e ' if editable else ''}{source}"
    return f"{command} inspector=={distribution.version}"


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as file:
            file.seek(max(0, os.fstat(file.fileno()).st_size - 64 * 1024))
            text = file.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
