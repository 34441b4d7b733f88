"""The command lines: `inspector listen|open|export|demo|run` and `inspect-proxy`.

The composition root. `inspector listen` is the observer: a collector whose events go to the
outputs (the viewer, the headless log, a session writer). `inspect-proxy` and `inspector demo`
are hot processes: they serve the traffic and record it into a sink, and start `inspector
listen` as a child process for everything else (see `tui.observer`). Every failure a user can
cause (a bad address, a busy port, an unreadable session, an unwritable export path) ends in
one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import itertools
import os
import shlex
import signal
import sys
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

from inspector import events as ev
from inspector import runtime, wire
from inspector.observe.collector import DEFAULT_MAX_PENDING, Collector
from inspector.observe.session import NotASession, SessionError, read_batches
from inspector.observe.store import DEFAULT_MAX_BYTES, DEFAULT_MAX_EXCHANGES
from inspector.observe.websocket import DEFAULT_PER_CONNECTION, DEFAULT_TOTAL
from tui.console import counted
from tui.outputs import Outputs, task


def _add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-tui", action="store_true", help="print one line per exchange")
    parser.add_argument("--save", metavar="FILE", help="append every event to a session file")
    parser.add_argument("--redact", action="store_true", help="mask secret headers in --save")
    parser.add_argument("--filter", metavar="EXPR", help="headless: print only matching exchanges")
    parser.add_argument(
        "--store-exchanges",
        metavar="N",
        type=_positive,
        default=DEFAULT_MAX_EXCHANGES,
        help=f"viewer: exchanges kept, the oldest evicted past it "
        f"(default {DEFAULT_MAX_EXCHANGES:,})",
    )
    parser.add_argument(
        "--store-mib",
        metavar="MIB",
        type=_positive,
        default=DEFAULT_MAX_BYTES >> 20,
        help=f"viewer: memory for exchanges (estimated), the oldest evicted past it "
        f"(default {DEFAULT_MAX_BYTES >> 20})",
    )


def _add_capture_flags(parser: argparse.ArgumentParser) -> None:
    """What the observer keeps of WebSocket messages (on `listen`, and passed on to the
    viewer child by `inspect-proxy` and `demo`)."""
    parser.add_argument(
        "--ws-keep-mib",
        metavar="MIB",
        type=_positive,
        default=DEFAULT_PER_CONNECTION >> 20,
        help="WebSocket payload kept per connection; later messages keep only their size "
        f"(default {DEFAULT_PER_CONNECTION >> 20})",
    )
    parser.add_argument(
        "--ws-keep-total-mib",
        metavar="MIB",
        type=_positive,
        default=DEFAULT_TOTAL >> 20,
        help="WebSocket payload kept across the open connections of one capturing process "
        f"(default {DEFAULT_TOTAL >> 20})",
    )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number above 0, not {text!r}")
    return int(text)


def listen_error(exc: OSError, where: str, flag: str, what: str = "port") -> OSError:
    """A place to listen on that is taken, said in one line with the flag that picks another
    (asyncio's words, `[Errno 98] error while attempting to bind on address ('127.0.0.1',
    8080): address already in use`, say neither); any other failure as it was."""
    if exc.errno != errno.EADDRINUSE:
        return exc
    return OSError(f"{where} is already in use: choose another {what} with {flag}")


def _tune_gc() -> None:
    # An observer holds up to 100,000 exchanges; the default thresholds would scan them all
    # every few thousand allocations. Events are untracked msgspec structs; collect rarely.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def _listen(args: argparse.Namespace) -> None:
    address = wire.parse_address(args.bus) if args.bus else wire.address_from_env()
    if address is None:
        raise ValueError("INSPECTOR_BUS is off, so no app sends here: pass --bus ADDRESS")
    _tune_gc()
    outputs = Outputs(args)
    collector = Collector(
        address,
        outputs,
        token=args.token,
        allow_remote=args.allow_remote,
        max_pending=args.max_pending << 20,
        ws_keep=args.ws_keep_mib << 20,
        ws_keep_total=args.ws_keep_total_mib << 20,
    )
    waiting: list[asyncio.Task[None]] = []
    try:
        try:
            await collector.start()
        except OSError as exc:
            raise listen_error(exc, str(address), "--bus", "address") from None
        if args.parent is None:
            print(f"inspector: listening on {collector.address}", file=sys.stderr)
            subtitle = f"listening on {collector.address}"
        else:  # the observer of a hot process (see tui.observer): it decides when to stop
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            ended = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, ended.set)
            subtitle = args.subtitle or ""
            waiting += [task(ended.wait()), task(_orphaned(args.parent))]
        viewer = task(
            outputs.run(args.title, subtitle, lambda: len(collector.peers), args.replay_base)
        )
        waiting.append(viewer)
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if viewer in done:
            viewer.result()
            if args.parent is not None:  # `q`: the hot process stops with its viewer
                collector.send_control({"control": "stop"})
                await asyncio.sleep(0.2)
    finally:
        for waiter in waiting:
            waiter.cancel()
        await collector.close()
        outputs.close()


async def _orphaned(parent: int) -> None:
    """Returns once `parent` is gone: this observer is of no use to anyone then."""
    while os.getppid() == parent:
        await asyncio.sleep(0.5)


def _reason(exc: OSError) -> str:
    """`No such file or directory`, without the `[Errno 2]` and the path said already."""
    return (exc.strerror or str(exc)).lower()


class _Nothing(Exception):
    """Nothing to show or to export: said in one line, with status 1."""


def _read(path: Path, damaged: _Damaged) -> Iterator[list[ev.Event]] | None:
    """The batches of the session at `path`, or None if it holds no events. The first batch is
    read here, so a file that is no session is refused (NotASession) before any screen or
    output file opens."""
    batches = read_batches(path, damaged)
    first = next(batches, None)
    if first is None:
        # The reader takes an empty file for a session whose header is still being written;
        # given on the command line, it is no session.
        if path.stat().st_size == 0:
            raise NotASession(f"{path} is empty: not an inspector session")
        return None
    return itertools.chain([first], batches)


async def _open(args: argparse.Namespace) -> None:
    damaged = _Damaged()
    try:
        session = _read(args.file, damaged)
        if session is None:
            raise _Nothing(f"{args.file} is an empty session: no events were saved in it")
        outputs = Outputs(args, reading=True)
        try:
            await outputs.run("inspector", str(args.file), session=session)
        finally:
            outputs.close()
    finally:
        damaged.report()


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


def _export(args: argparse.Namespace) -> None:
    from inspector.observe import export
    from inspector.observe.exchange import fold
    from inspector.observe.filters import compile_filter

    if not (args.har or args.curl):
        raise SystemExit("inspector export: say what to write: --har FILE and/or --curl FILE")
    keep = compile_filter(args.filter or "")
    damaged = _Damaged()
    try:
        session = _read(args.file, damaged)
        folded = fold(itertools.chain.from_iterable(session or ()))
    finally:
        damaged.report()
    started = [x for x in folded.values() if x.request is not None]
    exchanges = [x for x in started if keep(x)]
    if not started:
        raise _Nothing(f"nothing to export: {args.file} holds no exchanges")
    if not exchanges:
        expression = shlex.quote(args.filter)
        raise _Nothing(
            f"nothing to export: no exchange in {args.file} matches --filter {expression}"
        )
    # What the viewer's export writes (tui.screens.export), with the same functions.
    written = []
    for path, text in ((args.har, export.har_json), (args.curl, export.curl_all)):
        if path:
            data = (text(exchanges, redact=args.redact) + "\n").encode()
            try:
                with export.open_export(path) as file:
                    file.write(data)
            except OSError as exc:
                raise OSError(f"cannot write {path}: {_reason(exc)}") from None
            written.append(path)
    what = counted(len(exchanges), "exchange")
    print(f"inspector export: {what} written to {' and '.join(written)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="inspector", description="See what crosses the WSGI/ASGI boundary, live."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listen = commands.add_parser("listen", help="collect events from wrapped apps and show them")
    listen.add_argument(
        "--bus",
        help=f"unix:PATH or tcp://HOST:PORT (default: $INSPECTOR_BUS, else "
        f"{wire.default_address()})",
    )
    listen.add_argument("--token", default=runtime.token_from_env(), help="peers must present it")
    listen.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a TCP address other than loopback (needs --token)",
    )
    # Set by `tui.observer` when a hot process starts this as its observer.
    listen.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    listen.add_argument("--title", default="inspector", help=argparse.SUPPRESS)
    listen.add_argument("--subtitle", help=argparse.SUPPRESS)
    listen.add_argument("--replay-base", help=argparse.SUPPRESS)
    listen.add_argument(
        "--max-pending-mib",
        dest="max_pending",
        metavar="MIB",
        type=_positive,
        default=DEFAULT_MAX_PENDING >> 20,
        help="frames begun but not finished, over all peers; past it the peers holding the "
        f"most are refused (default {DEFAULT_MAX_PENDING >> 20})",
    )
    _add_output_flags(listen)
    _add_capture_flags(listen)

    open_ = commands.add_parser("open", help="show a saved session")
    open_.add_argument("file", type=Path)
    _add_output_flags(open_)

    export_ = commands.add_parser("export", help="write a saved session as HAR or curl commands")
    export_.add_argument("file", type=Path)
    export_.add_argument("--har", metavar="FILE", help="HAR 1.2")
    export_.add_argument("--curl", metavar="FILE", help="one curl command per exchange")
    export_.add_argument(
        "--no-redact",
        dest="redact",
        action="store_false",
        help="keep secret headers (Authorization, Cookie, ...) as they were; by default their "
        "values are masked, as in the viewer's export",
    )
    # Masking is the default; `--redact` stays for command lines written before it was.
    export_.add_argument("--redact", action="store_true", default=True, help=argparse.SUPPRESS)
    export_.add_argument("--filter", metavar="EXPR", help="only exchanges matching EXPR")

    demo = commands.add_parser("demo", help="a demo app behind the proxy, with traffic")
    from tui import demo as demo_module

    demo_module.add_arguments(demo)
    _add_output_flags(demo)
    _add_capture_flags(demo)
    run_ = commands.add_parser(
        "run", help="run a server command with capture in every process it starts"
    )
    from tui import run as run_module

    _add_output_flags(run_)
    _add_capture_flags(run_)
    run_module.add_arguments(run_)

    args = parser.parse_args(argv)
    try:
        if args.command == "listen":
            run(_listen(args))
        elif args.command == "open":
            run(_open(args))
        elif args.command == "export":
            _export(args)
        elif args.command == "run":
            return run_module.run(args)
        else:
            demo_module.run(args)
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    except NotASession as exc:  # the file named on the command line: a usage error
        print(f"inspector {args.command}: {exc}", file=sys.stderr)
        return 2
    except (OSError, SessionError, ValueError, _Nothing) as exc:
        print(f"inspector {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _proxy(args: argparse.Namespace) -> None:
    from inspector.proxy import Proxy, ProxyConfig, parse_address
    from tui.observer import ObserverChild

    config = ProxyConfig(
        upstream=parse_address(args.upstream),
        listen=parse_address(args.listen),
        body_limit=args.body_limit,
        response_timeout=args.timeout,
        idle_timeout=args.idle_timeout,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        send_timeout=args.send_timeout,
        backlog=args.backlog,
        redact=args.redact,
    )
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    observer = ObserverChild(args, name="inspect-proxy", on_stop=lambda: _set_soon(loop, stopped))
    proxy = Proxy(config, observer.sink)
    try:
        try:
            await proxy.start()  # a busy port is reported before any child starts
        except OSError as exc:
            raise listen_error(exc, "{}:{}".format(*config.listen), "--listen") from None
        where = f"http://{config.listen[0]}:{proxy.port} -> {config.upstream_text}"
        print(f"inspect-proxy: {where}", file=sys.stderr, flush=True)
        # Replays go straight to the upstream: through the proxy they would be captured twice.
        observer.start("inspect-proxy", where, f"http://{config.upstream_text}")
        await stopped.wait()
    finally:
        await proxy.close()
        observer.close()


def _set_soon(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set `event` from another thread (the sink's, when the viewer asks to stop)."""
    loop.call_soon_threadsafe(event.set)


def proxy_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="inspect-proxy",
        description="A reverse proxy that shows every exchange crossing it, byte for byte.",
    )
    parser.add_argument(
        "--upstream", required=True, help="PORT, :PORT, HOST:PORT or http://HOST:PORT"
    )
    parser.add_argument("--listen", default="127.0.0.1:8080", help="where to accept connections")
    parser.add_argument(
        "--body-limit", type=int, default=1 << 20, help="body bytes kept per direction"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for a response (504)"
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=75.0, help="seconds before an idle client is closed"
    )
    parser.add_argument(
        "--header-timeout", type=float, default=60.0, help="seconds to send a request head (408)"
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        help="seconds between two reads of a request body (408)",
    )
    parser.add_argument(
        "--send-timeout",
        type=float,
        default=60.0,
        help="seconds a peer may read nothing of what is sent to it before both are closed",
    )
    parser.add_argument(
        "--backlog", type=int, default=2048, help="connections waiting to be accepted"
    )
    _add_output_flags(parser)
    _add_capture_flags(parser)
    args = parser.parse_args(argv)
    try:
        run(_proxy(args))
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError) as exc:
        print(f"inspect-proxy: {exc}", file=sys.stderr)
        return 1
    return 0


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed: the proxy and the collector go faster on it."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)
