"""`inspector open` and `inspector export`: the commands that read a saved session.

Both read the session in batches and refuse a file that is missing, unreadable or no session
(`NotASession`: status 2 on the command line) before any screen or output file opens; a
session with nothing in it is said to be so (`Nothing`: status 1). Damaged lines are skipped
and named once reading is over. An export is what the viewer's `x` writes, with the same
functions, masking secrets unless told not to.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from inspector import events as ev
from inspector.observe.session import NotASession, read_batches
from inspector.observe.store import Origin
from tui import otlp
from tui.console import counted
from tui.outputs import Outputs

if TYPE_CHECKING:
    from inspector.observe.exchange import Exchange


class Nothing(Exception):
    """Nothing to show or to export: said in one line, with status 1."""


async def open_session(args: argparse.Namespace) -> None:
    damaged = _Damaged()
    try:
        session = _read(args.file, damaged)
        if session is None:
            raise Nothing(f"{args.file} is an empty session: no events were saved in it")
        outputs = Outputs(args, reading=True)
        try:
            await outputs.run("inspector", str(args.file), session=session)
        finally:
            outputs.close()
    finally:
        damaged.report()


def export(args: argparse.Namespace) -> None:
    from inspector.observe import export as exports
    from inspector.observe.exchange import fold
    from inspector.observe.filters import compile_filter
    from inspector.observe.pairing import Pairing, partner

    if not (args.har or args.curl or args.pytest or otlp.wanted(args)):
        raise SystemExit(
            "inspector export: say what to write: --har FILE, --curl FILE, --pytest FILE,"
            " --otlp URL and/or --otlp-json FILE"
        )
    tests = _pytest_writer(args)  # the app imported first: a wrong --app writes nothing
    keep = compile_filter(args.filter or "")
    damaged = _Damaged()
    peers: dict[str, Origin] = {}
    try:
        session = _read(args.file, damaged)
        folded = fold(_noting_peers(itertools.chain.from_iterable(session or ()), peers))
    finally:
        damaged.report()
    started = [x for x in folded.values() if x.request is not None]
    exchanges = [x for x in started if keep(x)]
    if not started:
        raise Nothing(f"nothing to export: {args.file} holds no exchanges")
    if not exchanges:
        expression = shlex.quote(args.filter)
        raise Nothing(
            f"nothing to export: no exchange in {args.file} matches --filter {expression}"
        )
    # What the viewer's export writes (tui.screens.export), with the same functions.
    written = []
    writers = ((args.har, exports.har_json), (args.curl, exports.curl_all), (args.pytest, tests))
    for path, text in writers:
        if path:
            data = (text(exchanges, redact=args.redact) + "\n").encode()
            try:
                with exports.open_export(path) as file:
                    file.write(data)
            except OSError as exc:
                # `No such file or directory`, without `[Errno 2]` and the path said already.
                reason = (exc.strerror or str(exc)).lower()
                raise OSError(f"cannot write {path}: {reason}") from None
            written.append(path)
    if written:
        what = counted(len(exchanges), "exchange")
        print(f"inspector export: {what} written to {' and '.join(written)}", file=sys.stderr)
    if otlp.wanted(args):
        # Proxy and app records of one request become parent and child spans, paired as
        # the viewer pairs them (in the order the requests started, as they arrived live).
        Pairing().update(sorted(started, key=_started_at))
        for done in otlp.export_spans(args, exchanges, peers, paired=partner):
            print(f"inspector export: {done}", file=sys.stderr)


def _started_at(x: Exchange) -> float:
    return x.request.wall_time if x.request is not None else 0.0


def _noting_peers(events: Iterator[ev.Event], peers: dict[str, Origin]) -> Iterator[ev.Event]:
    """The events, noting on the way which process each id prefix names (for OTLP)."""
    for event in events:
        if isinstance(event, ev.PeerConnected):
            peers[event.prefix] = Origin(event.host, event.pid, event.name)
        yield event


def _pytest_writer(args: argparse.Namespace) -> Callable[..., str]:
    """What writes `--pytest`: tests through the `--app` (ASGI or WSGI, told by importing
    it), or against a base URL without one."""
    from inspector.observe.apps import load_app
    from inspector.observe.pytest_export import pytest_module

    if args.app is None:
        return pytest_module
    if not args.pytest:
        raise ValueError("--app names the app for --pytest: give --pytest FILE too")
    loaded = load_app(args.app)
    return functools.partial(pytest_module, app=loaded.target, kind=loaded.kind)


class _Damaged:
    """Damaged lines of a session (a crash mid-write, then a resumed save), skipped: the first
    few named on stderr once reading is over (the viewer owns the terminal until then)."""

    SHOWN = 5

    def __init__(self) -> None:
        self.first: list[str] = []
        self.count = 0

    def append(self, problem: str) -> None:
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append(problem)

    def report(self) -> None:
        for problem in self.first:
            print(f"inspector: skipped a damaged line: {problem}", file=sys.stderr)
        if self.count > self.SHOWN:
            more = counted(self.count - self.SHOWN, "more damaged line")
            print(f"inspector: ... and {more}", file=sys.stderr)


def _read(path: Path, damaged: _Damaged) -> Iterator[list[ev.Event]] | None:
    """The batches of the session at `path`, or None if it holds no events. The first batch is
    read here, so a file that is no session is refused (NotASession) before any screen or
    output file opens."""
    batches = read_batches(path, damaged)
    first = next(batches, None)
    if first is None:
        # The reader takes an empty file for a session whose header is still being written;
        # named on the command line, it is no session.
        if path.stat().st_size == 0:
            raise NotASession(f"{path} is empty: not an inspector session")
        return None
    return itertools.chain([first], batches)
