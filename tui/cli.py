"""The command lines: `inspector listen|open|export|demo|run` and `inspect-proxy`.

The composition root. `inspector listen` is the observer: a collector whose events go to the
outputs (the viewer, the headless log, a session writer). `inspect-proxy` and `inspector demo`
are hot processes: they serve the traffic and record it into a sink, and start `inspector
listen` as a child process for everything else (see `tui.observer`). `open` and `export` read
a saved session (`tui.saved`). Every failure a user can cause (a bad address, a busy port, an
unreadable session, an unwritable export path) ends in one clear line on stderr and a non-zero
exit: 2 for a command line that is wrong (argparse's own) or names a file that is no session.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from inspector import runtime, wire
from inspector.observe.apps import load_app
from inspector.observe.collector import DEFAULT_MAX_PENDING, Collector
from inspector.observe.session import NotASession, SessionError
from inspector.observe.store import DEFAULT_MAX_BYTES, DEFAULT_MAX_EXCHANGES
from inspector.observe.websocket import DEFAULT_PER_CONNECTION, DEFAULT_TOTAL
from tui import otlp, saved
from tui.outputs import Outputs, task


def _add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-tui", action="store_true", help="print one line per exchange")
    parser.add_argument("--save", metavar="FILE", help="append every event to a session file")
    parser.add_argument("--redact", action="store_true", help="mask secret headers in --save")
    parser.add_argument(
        "--filter",
        metavar="EXPR",
        help="headless: print (and --otlp: send) only matching exchanges",
    )
    parser.add_argument(
        "--store-exchanges",
        metavar="N",
        type=_positive,
        default=DEFAULT_MAX_EXCHANGES,
        help=f"viewer: exchanges kept, the oldest evicted past it "
        f"(default: {DEFAULT_MAX_EXCHANGES:,})",
    )
    parser.add_argument(
        "--store-mib",
        metavar="MIB",
        type=_positive,
        default=DEFAULT_MAX_BYTES >> 20,
        help=f"viewer: memory for exchanges (estimated), the oldest evicted past it "
        f"(default: {DEFAULT_MAX_BYTES >> 20})",
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
        f"(default: {DEFAULT_PER_CONNECTION >> 20})",
    )
    parser.add_argument(
        "--ws-keep-total-mib",
        metavar="MIB",
        type=_positive,
        default=DEFAULT_TOTAL >> 20,
        help="WebSocket payload kept across the open connections of one capturing process "
        f"(default: {DEFAULT_TOTAL >> 20})",
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
    # Imported before anything listens: a wrong --app is said at once, and the viewer reads
    # the loaded app (`args.replay_app`) for in-process replay (inspector.observe.inprocess).
    args.replay_app = None if args.app is None else load_app(args.app)
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
        # SIGTERM stops it as Ctrl-C does, through the `finally` below that removes the
        # socket file (the default action would end the process on the spot).
        ended = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, ended.set)
        waiting.append(task(ended.wait()))
        if args.parent is None:
            # Ctrl-C too, even when started ignoring SIGINT (a background job of a script).
            loop.add_signal_handler(signal.SIGINT, ended.set)
            print(f"inspector: listening on {collector.address}", file=sys.stderr)
            subtitle = f"listening on {collector.address}"
        else:  # the observer of a hot process (see tui.observer): it decides when to stop
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            subtitle = args.subtitle or ""
            waiting.append(task(_orphaned(args.parent)))
        viewer = task(
            outputs.run(
                args.title,
                subtitle,
                lambda: len(collector.peers),
                args.replay_base,
                listening=str(collector.address) if args.parent is None else None,
                log_path=args.log,
                control=args.control,
                replay_app=args.replay_app,
            )
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


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and examples as written; each option's default shown, unless its help
    says it already (in words: a byte count as MiB) or there is none to show (an option left
    unset, a flag that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _command(
    commands: Any, name: str, summary: str, description: str, examples: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=_Help,
    )
    return parser


def _version(parser: argparse.ArgumentParser) -> None:
    from inspector.observe.export import package_version

    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")


_SESSION_FILE = "a session file written by --save"
_STATUS = """
exit status: 0 done, 1 %s or an error, 2 FILE is missing, unreadable or no session"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="inspector",
        description="""\
See what crosses the WSGI/ASGI boundary of a Python web app, live: the scope or environ,
every message, streamed chunks, timings and WebSocket messages, from every worker process.
`inspector COMMAND --help` says more.""",
        epilog="""examples:
  inspector listen                      the viewer, for every app wrapped in code
  inspector run -- uvicorn myapp:app    capture with no code change
  inspector demo                        a demo app behind inspect-proxy, in the viewer
  inspector open s.jsonl                reopen a session saved with --save
  inspector export s.jsonl --har s.har  write it as HAR 1.2""",
        formatter_class=_Help,
    )
    _version(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    listen = _command(
        commands,
        "listen",
        "collect events from wrapped apps and show them",
        """\
Collect the events of every process wrapped by ASGIInspectorMiddleware or
WSGIInspectorMiddleware and show them in the viewer, or print a line per exchange
(--no-tui). The apps find it with no configuration: both sides default to the same per-user
socket, and both read INSPECTOR_BUS and INSPECTOR_TOKEN.""",
        """  inspector listen
  inspector listen --no-tui --save s.jsonl --filter '~c 5xx'
  inspector listen --bus tcp://127.0.0.1:7999
  inspector listen --app myapp:app""",
    )
    listen.add_argument(
        "--bus",
        metavar="ADDRESS",
        help=f"unix:PATH or tcp://HOST:PORT (default: $INSPECTOR_BUS, else "
        f"{wire.default_address()})",
    )
    listen.add_argument(
        "--token",
        default=runtime.token_from_env(),
        help="peers must present it (default: $INSPECTOR_TOKEN)",  # never the token itself
    )
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
        "--app",
        metavar="MODULE:ATTR",
        help="replay through this ASGI or WSGI app in process, not over the network",
    )
    listen.add_argument("--log", help=argparse.SUPPRESS)  # `inspector run`'s output file
    # The relay's control socket (inspect-proxy, demo): only its own viewer child acts.
    listen.add_argument("--control", help=argparse.SUPPRESS)
    listen.add_argument(
        "--max-pending-mib",
        dest="max_pending",
        metavar="MIB",
        type=_positive,
        default=DEFAULT_MAX_PENDING >> 20,
        help="frames begun but not finished, over all peers; past it the peers holding the "
        f"most are refused (default: {DEFAULT_MAX_PENDING >> 20})",
    )
    _add_output_flags(listen)
    _add_capture_flags(listen)
    otlp.add_otlp_flags(listen)

    open_ = _command(
        commands,
        "open",
        "show a saved session",
        "Reopen a session saved with --save: in the viewer, or a line per exchange (--no-tui).",
        """  inspector open s.jsonl
  inspector open s.jsonl --no-tui --filter '~m POST'
"""
        + _STATUS % "an empty session",
    )
    open_.add_argument("file", type=Path, metavar="FILE", help=_SESSION_FILE)
    _add_output_flags(open_)

    export_ = _command(
        commands,
        "export",
        "write a saved session as HAR, curl commands or pytest tests",
        """\
Write the exchanges of a saved session as HAR 1.2 (for browsers' DevTools and HAR viewers),
as curl commands and/or as pytest tests that replay them and assert the answers (through
--app in process, else against a base URL). Secret headers (Authorization, Cookie,
Set-Cookie, ...) are masked unless --no-redact; the files are written 0600.""",
        """  inspector export s.jsonl --har s.har --curl s.sh
  inspector export s.jsonl --curl s.sh --filter '~u /api/ & ~c 5xx'
  inspector export s.jsonl --har s.har --no-redact
  inspector export s.jsonl --pytest tests/test_captured.py --app myapp:app
"""
        + _STATUS % "nothing to export",
    )
    export_.add_argument("file", type=Path, metavar="FILE", help=_SESSION_FILE)
    export_.add_argument("--har", metavar="FILE", help="write HAR 1.2 to FILE")
    export_.add_argument("--curl", metavar="FILE", help="write a curl command per exchange to FILE")
    export_.add_argument(
        "--pytest",
        metavar="FILE",
        help="write a pytest module to FILE: a test per exchange, replaying its request and "
        "asserting the answer",
    )
    export_.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help="--pytest: replay through this ASGI or WSGI app in process (no network), "
        "instead of against a base URL",
    )
    export_.add_argument(
        "--no-redact",
        dest="redact",
        action="store_false",
        help="keep secret headers (Authorization, Cookie, ...) as they were; by default their "
        "values are masked, as in the viewer's export",
    )
    # Masking is the default; `--redact` stays for command lines written before it was.
    export_.add_argument("--redact", action="store_true", default=True, help=argparse.SUPPRESS)
    export_.add_argument(
        "--filter", metavar="EXPR", help="only the exchanges matching EXPR (the viewer's filters)"
    )
    otlp.add_otlp_flags(export_, export=True)

    demo = _command(
        commands,
        "demo",
        "a demo app behind the proxy, with traffic",
        """\
A small Starlette app (a JSON API, a form POST, a slow endpoint, an error, Server-Sent
Events, a WebSocket echo) wrapped by the ASGI middleware, behind inspect-proxy, with gentle
traffic, in the viewer: each exchange shows twice, as the proxy saw it and as the app did.""",
        """  inspector demo
  inspector demo --port 9000 --capture proxy
  inspector demo --no-tui --duration 10""",
    )
    from tui import demo as demo_module

    demo_module.add_arguments(demo)
    _add_output_flags(demo)
    _add_capture_flags(demo)
    otlp.add_otlp_flags(demo)
    run_ = _command(
        commands,
        "run",
        "run a server command with capture in every process it starts",
        """\
Run a Python web server command with capture in every process it starts (workers and
reloaders too), with no change to its code, and show its traffic in the viewer. inspector's
own flags go before the command.""",
        """  inspector run -- uvicorn myapp:app --workers 2
  inspector run -- gunicorn -w 4 myproject.wsgi
  inspector run --no-tui --save s.jsonl -- python manage.py runserver""",
    )
    from tui import run as run_module

    _add_output_flags(run_)
    _add_capture_flags(run_)
    otlp.add_otlp_flags(run_)
    run_module.add_arguments(run_)
    from tui import replay_cli

    replay_cli.add_parser(commands)

    args = parser.parse_args(argv)
    try:
        otlp.check(args)
        if args.command == "listen":
            run(_listen(args))
        elif args.command == "open":
            run(saved.open_session(args))
        elif args.command == "export":
            saved.export(args)
        elif args.command == "run":
            return run_module.run(args)
        elif args.command == "replay":
            return replay_cli.run(args)
        else:
            demo_module.run(args)
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    except NotASession as exc:  # the file named on the command line: a usage error
        print(f"inspector {args.command}: {exc}", file=sys.stderr)
        return 2
    except (OSError, SessionError, ValueError, saved.Nothing) as exc:
        print(f"inspector {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _proxy(args: argparse.Namespace) -> None:
    from inspector.proxy import Proxy, ProxyConfig, parse_address
    from inspector.proxy.control import ControlServer
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
        hold_timeout=args.hold_timeout,
    )
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    observer = ObserverChild(args, name="inspect-proxy", on_stop=lambda: _set_soon(loop, stopped))
    proxy = Proxy(config, observer.sink)
    control: ControlServer | None = None
    try:
        try:
            await proxy.start()  # a busy port is reported before any child starts
        except OSError as exc:
            raise listen_error(exc, "{}:{}".format(*config.listen), "--listen") from None
        control = ControlServer(observer.control_path, proxy.steering)
        await control.start()
        where = f"http://{config.listen[0]}:{proxy.port} -> {config.upstream_text}"
        print(f"inspect-proxy: {where}", file=sys.stderr, flush=True)
        problem = await proxy.check_upstream()
        if problem is not None:
            print(f"inspect-proxy: warning: {problem}", file=sys.stderr, flush=True)
        # Replays go straight to the upstream: through the proxy they would be captured twice.
        observer.start("inspect-proxy", where, f"http://{config.upstream_text}", control=True)
        await stopped.wait()
    finally:
        if control is not None:
            await control.close()
        await proxy.close()
        observer.close()


def _set_soon(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set `event` from another thread (the sink's, when the viewer asks to stop)."""
    loop.call_soon_threadsafe(event.set)


def proxy_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="inspect-proxy",
        description="""\
A reverse proxy that shows every exchange crossing it, byte for byte. It forwards to
--upstream only (never an open proxy), records what passes, and shows it in the viewer, or
prints a line per exchange (--no-tui). --upstream and --listen take PORT, :PORT, HOST (port
80), HOST:PORT or http://HOST[:PORT].""",
        epilog="""examples:
  inspect-proxy --upstream :8000
  inspect-proxy --upstream 127.0.0.1:8000 --listen :9000 --no-tui --save s.jsonl""",
        formatter_class=_Help,
    )
    _version(parser)
    parser.add_argument("--upstream", required=True, help="where to forward requests")
    parser.add_argument("--listen", default="127.0.0.1:8080", help="where to accept connections")
    parser.add_argument(
        "--body-limit",
        metavar="BYTES",
        type=int,
        default=1 << 20,
        help="body bytes kept per direction (default: 1 MiB)",
    )
    for flag, default, what in (
        ("--timeout", 60, "to wait for a response head (504)"),
        ("--idle-timeout", 75, "before an idle keep-alive connection is closed"),
        ("--header-timeout", 60, "to send a request head (408)"),
        ("--body-timeout", 60, "between two reads of a request body (408)"),
        ("--send-timeout", 60, "a peer may read nothing sent to it before both are closed"),
    ):
        help = f"seconds {what} (default: {default} s)"
        parser.add_argument(flag, metavar="S", type=float, default=float(default), help=help)
    parser.add_argument(
        "--backlog", type=int, default=2048, help="connections waiting to be accepted"
    )
    parser.add_argument(
        "--hold-timeout",
        metavar="S",
        type=float,
        default=60.0,
        help="seconds the viewer may hold an intercepted message, request or response before"
        " it is forwarded unchanged (default: 60 s)",
    )
    _add_output_flags(parser)
    _add_capture_flags(parser)
    otlp.add_otlp_flags(parser)
    args = parser.parse_args(argv)
    try:
        otlp.check(args)
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
