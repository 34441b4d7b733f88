"""The command lines: `inspector listen|open|export|demo` and `inspect-proxy`.

The composition root: each command builds a local `EventBus`, feeds it (a collector, the
proxy, a session file) and subscribes the outputs (the viewer, the headless log, a session
writer). Every failure a user can cause (a bad address, a busy port, an unreadable session,
an unwritable export path) ends in one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from inspector import events as ev
from inspector import wire
from inspector.bus import EventBus
from inspector.collector import Collector
from inspector.session import SessionError, SessionWriter, read_session, redactor

Output = Callable[[Sequence[ev.Event]], None]


class Outputs:
    """What a command does with events: save them, print them, show them."""

    def __init__(self, args: argparse.Namespace, bus: EventBus) -> None:
        self.bus = bus
        self.writer: SessionWriter | None = None
        if getattr(args, "save", None):
            self.writer = SessionWriter(args.save, redactor(args.redact))
            bus.subscribe(self.writer)
        self.headless = bool(args.no_tui)
        if self.headless:
            from tui.console import ConsoleLog

            bus.subscribe(ConsoleLog(filter_text=getattr(args, "filter", None) or ""))

    async def run(
        self,
        title: str,
        subtitle: str,
        peers: Callable[[], int] | None = None,
        replay_base: str | None = None,
    ) -> None:
        """Show the viewer until it quits, or (headless) wait until interrupted."""
        if self.headless:
            await asyncio.Event().wait()
            return
        from tui.app import InspectorApp

        app = InspectorApp(title=title, subtitle=subtitle, peers=peers, replay_base=replay_base)
        self.bus.subscribe(app.feed)
        await app.run_async()

    def close(self) -> None:
        self.bus.close()
        if self.writer is not None:
            self.writer.close()


def _add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-tui", action="store_true", help="print one line per exchange")
    parser.add_argument("--save", metavar="FILE", help="append every event to a session file")
    parser.add_argument("--redact", action="store_true", help="mask secret headers in --save")
    parser.add_argument("--filter", metavar="EXPR", help="headless: print only matching exchanges")


async def _listen(args: argparse.Namespace) -> None:
    address = wire.parse_address(args.bus) if args.bus else wire.default_address()
    bus = EventBus()
    outputs = Outputs(args, bus)
    collector = Collector(
        address, bus.publish_all, token=args.token, allow_remote=args.allow_remote
    )
    try:
        await collector.start()
        print(f"inspector: listening on {collector.address}", file=sys.stderr)
        await outputs.run(
            "inspector", f"listening on {collector.address}", lambda: len(collector.peers)
        )
    finally:
        await collector.close()
        outputs.close()


async def _open(args: argparse.Namespace) -> None:
    bus = EventBus()
    outputs = Outputs(args, bus)
    events = _read(args.file)
    if outputs.headless:
        bus.publish_all(events)
        outputs.close()
        return
    from tui.app import InspectorApp

    app = InspectorApp(title="inspector", subtitle=str(args.file))
    app.feed(events)
    await app.run_async()


def _read(path: Path) -> list[ev.Event]:
    """A session's events; damaged lines (a crash mid-write, then a resumed save) are skipped
    with a warning."""
    damaged: list[str] = []
    events = list(read_session(path, damaged))
    for problem in damaged[:5]:
        print(f"inspector: skipped a damaged line: {problem}", file=sys.stderr)
    if len(damaged) > 5:
        print(f"inspector: ... and {len(damaged) - 5} more damaged lines", file=sys.stderr)
    return events


def _export(args: argparse.Namespace) -> None:
    from inspector import export
    from inspector.exchange import fold
    from inspector.filters import compile_filter

    if not (args.har or args.curl):
        raise SystemExit("inspector export: say what to write: --har FILE and/or --curl FILE")
    keep = compile_filter(args.filter or "")
    exchanges = [x for x in fold(_read(args.file)).values() if x.request is not None and keep(x)]
    if args.har:
        Path(args.har).write_text(export.har_json(exchanges, redact=args.redact), "utf-8")
    if args.curl:
        Path(args.curl).write_text(export.curl_all(exchanges, redact=args.redact) + "\n", "utf-8")
    print(f"inspector: exported {len(exchanges)} exchanges", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="inspector", description="See what crosses the WSGI/ASGI boundary, live."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listen = commands.add_parser("listen", help="collect events from wrapped apps and show them")
    listen.add_argument(
        "--bus", help=f"unix:PATH or tcp://HOST:PORT (default {wire.default_address()})"
    )
    listen.add_argument(
        "--token", default=os.environ.get("INSPECTOR_TOKEN"), help="peers must present it"
    )
    listen.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a TCP address other than loopback (needs --token)",
    )
    _add_output_flags(listen)

    open_ = commands.add_parser("open", help="show a saved session")
    open_.add_argument("file", type=Path)
    _add_output_flags(open_)

    export_ = commands.add_parser("export", help="write a saved session as HAR or curl commands")
    export_.add_argument("file", type=Path)
    export_.add_argument("--har", metavar="FILE", help="HAR 1.2")
    export_.add_argument("--curl", metavar="FILE", help="one curl command per exchange")
    export_.add_argument("--redact", action="store_true", help="mask secret headers")
    export_.add_argument("--filter", metavar="EXPR", help="only exchanges matching EXPR")

    demo = commands.add_parser("demo", help="a demo app behind the proxy, with traffic")
    from tui import demo as demo_module

    demo_module.add_arguments(demo)
    _add_output_flags(demo)

    args = parser.parse_args(argv)
    try:
        if args.command == "listen":
            run(_listen(args))
        elif args.command == "open":
            run(_open(args))
        elif args.command == "export":
            _export(args)
        else:
            demo_module.run(args)
    except KeyboardInterrupt:
        pass
    except (OSError, SessionError, ValueError) as exc:
        print(f"inspector {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _proxy(args: argparse.Namespace) -> None:
    from inspector.proxy import Proxy, ProxyConfig, parse_address

    config = ProxyConfig(
        upstream=parse_address(args.upstream),
        listen=parse_address(args.listen),
        body_limit=args.body_limit,
        response_timeout=args.timeout,
        idle_timeout=args.idle_timeout,
        header_timeout=args.header_timeout,
        redact=args.redact,
    )
    bus = EventBus()
    outputs = Outputs(args, bus)
    proxy = Proxy(config, bus)
    try:
        await proxy.start()
        where = f"http://{config.listen[0]}:{proxy.port} -> {config.upstream_text}"
        print(f"inspect-proxy: {where}", file=sys.stderr)
        # Replays go straight to the upstream: through the proxy they would be captured twice.
        await outputs.run("inspect-proxy", where, replay_base=f"http://{config.upstream_text}")
    finally:
        await proxy.close()
        outputs.close()


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
    _add_output_flags(parser)
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
