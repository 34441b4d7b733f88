"""`inspector replay SESSION --id ID [--to URL] [--paced]`: replay one exchange of a saved
session, headless, and print how it went and how it compares with the original.

HTTP or WebSocket, with the viewer's engines (`inspector.observe.replay`, `.replay_ws`): the
request (or handshake and client messages) goes to the original URL, or its path on `--to`.
Printed: the answer (status, or the server's messages), then `same answer as the original`
or one line per difference. Exit status 0 when the replay ran, even if it answered
differently; 1, with one line on stderr, when the session holds no such exchange or the
target is down.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from inspector import events as ev
from inspector.observe.compare import compare
from inspector.observe.exchange import Exchange, fold
from inspector.observe.replay import replay
from inspector.observe.replay_ws import replay_websocket
from inspector.observe.session import read_session


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="replay one exchange of a saved session and compare the answer",
        description=(
            "Replay one exchange of a saved session (an HTTP request, or a WebSocket\n"
            "conversation: the same handshake and the client's messages), print the answer\n"
            "and how it differs from the original. Exit status 0 when the replay ran, even\n"
            "if the answer differs; 1 when the id is unknown or the target is down."
        ),
        epilog="""examples:
  inspector replay s.jsonl --id 9a8b7c6d5e4f-3
  inspector replay s.jsonl --id 9a8b7c6d5e4f-3 --to http://127.0.0.1:9000
  inspector replay s.jsonl --id 9a8b7c6d5e4f-7 --paced   # a WebSocket, with its pacing""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("session", metavar="SESSION", help="a session file (--save)")
    parser.add_argument("--id", required=True, help="the exchange's id (the viewer's Events tab)")
    parser.add_argument(
        "--to",
        metavar="URL",
        help="send to this base URL, keeping the path (default: the captured URL)",
    )
    parser.add_argument(
        "--paced", action="store_true", help="WebSocket: send with the captured spacing"
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    exchanges = fold(read_session(args.session))
    original = exchanges.get(args.id)
    if original is None or original.request is None:
        print(f"inspector replay: no exchange {args.id!r} in {args.session}", file=sys.stderr)
        return 1
    events: list[ev.Event] = []
    error = asyncio.run(_replay(original, events, args.to, args.paced))
    folded = fold(events)
    replayed = next(iter(folded.values()), None)
    if error is not None and (replayed is None or replayed.status is None):
        print(f"inspector replay: {error}", file=sys.stderr)
        return 1
    assert replayed is not None
    _print(original, replayed)
    return 0


async def _replay(
    original: Exchange, events: list[ev.Event], to: str | None, paced: bool
) -> str | None:
    if original.is_websocket:
        done = await replay_websocket(original, events.extend, base=to, paced=paced)
        return done.error
    answered = await replay(original, events.extend, base=to)
    return answered.error


def _print(original: Exchange, replayed: Exchange) -> None:
    out = sys.stdout
    request = replayed.request
    assert request is not None
    print(f"↻ {request.method} {replayed.url}: {replayed.status}", file=out)
    if replayed.is_websocket:
        for message in replayed.messages:
            shown = message.text if message.text is not None else (message.data or b"").hex(" ")
            print(f"  {'→' if message.sender == 'client' else '←'} {shown}", file=out)
        if replayed.closed is not None:
            closed = replayed.closed
            print(f"  closed by the {closed.sender}: {closed.code} {closed.reason}".rstrip())
    comparison = compare(original, replayed)
    if comparison.same:
        print("same answer as the original", file=out)
        return
    differences = comparison.differences()
    print(f"{len(differences)} difference{'s' * (len(differences) != 1)} from the original:")
    for line in differences:
        print(f"  {line}", file=out)
