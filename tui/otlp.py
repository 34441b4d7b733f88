"""The `--otlp` flags, and `OtlpOutput`: live exchanges sent to an OpenTelemetry backend.

`OtlpOutput` is an output of the observer (see `tui.outputs`): on the collector's loop it only
folds events into the exchanges it needs (bodies dropped unless asked for) and, as each one
finishes, queues it with its partner record (`paired`) for a `SpanSender`, whose thread builds
the spans and sends them. `export_spans` serves `inspector export --otlp/--otlp-json`. The
OpenTelemetry packages are an extra (`inspector[otlp]`): nothing here imports them until a
flag asks for them, and a flag without them says how to install them.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections import ChainMap, OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from inspector import events as ev
from inspector.observe.exchange import Exchange
from inspector.observe.filters import compile_filter
from inspector.observe.pairing import Pairing, partner
from inspector.observe.store import Origin, prefix_of
from inspector.redact import SENSITIVE_HEADERS
from tui.console import counted

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from inspector.observe.otlp import Paired, SpanOptions
    from inspector.observe.otlp_send import SpanSender

INSTALL = "pip install 'inspector[otlp]'"
HEADERS_ENV = "INSPECTOR_OTLP_HEADERS"
"""How `inspect-proxy` hands --otlp-headers to its viewer child: not on a command line that
`ps` shows."""
RECENT = 1_000
"""Finished exchanges remembered for pairing with a partner that finishes later."""
MAX_OPEN = 100_000
MAX_SETTLING = 10_000
"""Finished exchanges waiting for their pair at most; past it the oldest goes unpaired."""
_BODY_EVENTS = (ev.RequestBodyChunk, ev.ResponseBodyChunk, ev.ResponseBodyWritten)


def add_otlp_flags(parser: argparse.ArgumentParser, *, export: bool = False) -> None:
    group = parser.add_argument_group(f"OpenTelemetry export (needs {INSTALL})")
    where = "the exchanges" if export else "every finished exchange"
    group.add_argument(
        "--otlp",
        metavar="URL",
        help=f"send {where} as spans to an OTLP/HTTP endpoint "
        "(a collector, Jaeger, Tempo: http://127.0.0.1:4318)",
    )
    if export:
        group.add_argument(
            "--otlp-json", metavar="FILE", help="write the spans as OTLP/JSON to FILE"
        )
    group.add_argument(
        "--otlp-headers",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a header for the OTLP endpoint (auth), repeatable or comma-separated",
    )
    group.add_argument(
        "--otlp-capture-headers",
        metavar="NAME,...",
        default="",
        help="HTTP headers recorded as span attributes (secrets masked)",
    )
    group.add_argument(
        "--otlp-bodies",
        action="store_true",
        help="record body content in spans (cut at the body limit; secrets in headers masked)",
    )
    group.add_argument(
        "--otlp-service",
        metavar="NAME",
        help="service.name of the spans (default: each process's name, or inspect-proxy)",
    )


def wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "otlp", None) or getattr(args, "otlp_json", None))


def check(args: argparse.Namespace) -> None:
    """Refuse OTLP flags that cannot work, before anything starts: the extra missing, a URL
    that is no http(s) URL, a header that is no KEY=VALUE."""
    if not wanted(args):
        return
    try:  # the flag is used: loading them now costs nothing more
        importlib.import_module("opentelemetry.exporter.otlp.proto.http")
    except ImportError:
        flag = "--otlp" if args.otlp else "--otlp-json"
        raise ValueError(f"{flag} needs the OpenTelemetry packages: {INSTALL}") from None
    if args.otlp:
        parts = urlsplit(args.otlp)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--otlp takes an http:// or https:// URL, not {args.otlp!r}")
    otlp_headers(args.otlp_headers)


def otlp_headers(values: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` items (each may hold several, comma-separated, as
    OTEL_EXPORTER_OTLP_HEADERS does), and those handed down in $INSPECTOR_OTLP_HEADERS."""
    headers: dict[str, str] = {}
    inherited = os.environ.get(HEADERS_ENV, "")
    for value in [inherited, *values] if inherited else values:
        for item in value.split(","):
            key, sep, text = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--otlp-headers takes KEY=VALUE, not {item!r}")
            headers[key.strip()] = text.strip()
    return headers


def child_flags(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The flags and environment that pass `--otlp` on to a viewer child (`tui.observer`)."""
    if not getattr(args, "otlp", None):
        return [], {}
    flags = ["--otlp", args.otlp]
    if args.otlp_capture_headers:
        flags += ["--otlp-capture-headers", args.otlp_capture_headers]
    if args.otlp_bodies:
        flags.append("--otlp-bodies")
    if args.otlp_service:
        flags += ["--otlp-service", args.otlp_service]
    headers = otlp_headers(args.otlp_headers)
    env = {HEADERS_ENV: ",".join(f"{k}={v}" for k, v in headers.items())} if headers else {}
    return flags, env


def span_options(args: argparse.Namespace, *, redact: bool = True) -> SpanOptions:
    from inspector.observe.export import package_version
    from inspector.observe.otlp import SpanOptions

    names = {n.strip().lower() for n in args.otlp_capture_headers.split(",") if n.strip()}
    return SpanOptions(
        service=args.otlp_service,
        capture_headers=frozenset(names),
        bodies=args.otlp_bodies,
        redact=SENSITIVE_HEADERS if redact else frozenset(),
        scope_version=package_version(),
    )


class OtlpOutput:
    """Finished exchanges to an OTLP endpoint. Called with each batch of events on the
    collector's loop; `report` gets a sentence for the user (from the sender's thread);
    `paired` finds the other record of a request (see `inspector.observe.otlp`), called on
    the loop with the exchanges of `self.exchanges` (open, and the last `RECENT` finished)."""

    def __init__(
        self,
        args: argparse.Namespace,
        report: Callable[[str], None],
        *,
        paired: Paired | None = None,
        sender: SpanSender[Any] | None = None,
    ) -> None:
        from inspector.observe.otlp_send import SpanSender

        self.options = span_options(args)
        self.keep = compile_filter(getattr(args, "filter", None) or "")
        # A filter may look into bodies; then they are kept until the exchange ends.
        self.keep_bodies = self.options.bodies or bool(str(self.keep))
        # Proxy and app records of one request, paired as the viewer pairs them (unless the
        # caller says how): the app's span then hangs under the proxy's upstream call.
        self.pairing = Pairing()
        self.paired = partner if paired is None else paired
        self.settling: OrderedDict[str, tuple[Exchange, int | None]] = OrderedDict()
        self.peers: dict[str, Origin] = {}
        self.open: OrderedDict[str, Exchange] = OrderedDict()
        self.recent: OrderedDict[str, Exchange] = OrderedDict()
        self.exchanges = ChainMap(self.open, self.recent)
        self._first_byte: dict[str, int] = {}
        self.sender = sender or SpanSender(
            args.otlp, self._build, report, headers=otlp_headers(args.otlp_headers) or None
        )

    def __call__(self, events: Sequence[ev.Event]) -> None:
        touched: dict[str, Exchange] = {}
        finished: list[Exchange] = []
        for event in events:
            xid = event.exchange_id
            if not xid:
                if isinstance(event, ev.PeerConnected):
                    self.peers[event.prefix] = Origin(event.host, event.pid, event.name)
                continue
            x = self.open.get(xid)
            if x is None:
                if not isinstance(event, ev.RequestStarted):
                    continue  # its start came before this observer, or was dropped
                x = self.open[xid] = Exchange(xid, max_events=0, max_messages=128)
                if len(self.open) > MAX_OPEN:
                    forgotten, _ = self.open.popitem(last=False)
                    self._first_byte.pop(forgotten, None)
                    self.pairing.forget(forgotten)
            x.apply(event)
            touched[xid] = x
            if isinstance(event, _BODY_EVENTS):
                if event.size and not isinstance(event, ev.RequestBodyChunk):
                    self._first_byte.setdefault(xid, event.at_ns)
                if not self.keep_bodies:
                    x.request_body.data.clear()
                    x.response_body.data.clear()
            elif isinstance(event, ev.ExchangeFinished):
                finished.append(x)
        # Paired before any span is built: an app's exchange often ends in the same batch
        # that its proxy exchange was forwarded in.
        self.pairing.update(touched.values())
        for x in finished:
            self._finished(x)
        self._settle()

    def _finished(self, x: Exchange) -> None:
        self.open.pop(x.id, None)
        self.recent[x.id] = x
        if len(self.recent) > RECENT:
            gone, _ = self.recent.popitem(last=False)
            self.pairing.forget(gone)
        first_byte = self._first_byte.pop(x.id, None)
        if not self.keep(x):
            return
        self.settling[x.id] = (x, first_byte)
        if len(self.settling) > MAX_SETTLING:
            _, (oldest, its_first_byte) = self.settling.popitem(last=False)
            self._send(oldest, its_first_byte)

    def _settle(self, everything: bool = False) -> None:
        """Send the finished exchanges whose pairing is decided: paired, given up, or never
        to be (the proxy and an app are not both heard from). Records of one request come
        from two processes, so an app's may end before the proxy's says where it went: it
        waits for that (at most the pairing's window, in the records' own time)."""
        pairing = self.pairing
        both = pairing.seen_proxy and pairing.seen_app
        for xid, (x, first_byte) in list(self.settling.items()):
            if everything or not both or x.pair is not None or x.unpaired:
                pass
            elif pairing.latest - _ended(x) <= pairing.window:
                continue
            del self.settling[xid]
            self._send(x, first_byte)

    def _send(self, x: Exchange, first_byte: int | None) -> None:
        partner = self.paired(x)
        if not self.options.bodies:
            x.request_body.data.clear()
            x.response_body.data.clear()
        cost = len(x.request_body.data) + len(x.response_body.data)
        cost += sum(m.size for m in x.messages)
        self.sender.put((x, partner, first_byte), cost)

    def _build(self, items: Sequence[tuple[Exchange, Exchange | None, int | None]]) -> list[Any]:
        from inspector.observe.otlp import exchange_spans

        spans: list[ReadableSpan] = []
        for x, other, first_byte in items:
            peer = self.peers.get(prefix_of(x.id))
            spans += exchange_spans(x, self.options, peer, _known(other), first_byte)
        return spans

    def status(self) -> str:
        """For the status bar: what was sent, dropped, and whether the backend is down."""
        stats = self.sender.stats()
        text = f"OTLP {stats.sent:,} sent"
        if stats.dropped:
            text += f", {stats.dropped:,} dropped"
        return text + (" (backend down)" if stats.down else "")

    def close(self, timeout: float = 5.0) -> str:
        """Send what waits (for up to `timeout` seconds); a line saying how it went."""
        self._settle(everything=True)
        stats = self.sender.close(timeout)
        line = f"OTLP: {counted(stats.sent, 'span')} sent to {self.sender.url}"
        if stats.dropped:
            line += f"; {counted(stats.dropped, 'exchange')} not sent (dropped)"
        return line


def _ended(x: Exchange) -> float:
    """When `x` ended, in wall-clock seconds (as the pairing dates exchanges)."""
    request, finished = x.request, x.finished
    assert request is not None
    return request.wall_time + (finished.total_ns / 1e9 if finished is not None else 0.0)


def _known(partner: Exchange | None) -> Paired:
    def paired(x: Exchange) -> Exchange | None:
        return partner

    return paired


def export_spans(
    args: argparse.Namespace,
    exchanges: Sequence[Exchange],
    peers: dict[str, Origin],
    paired: Paired | None = None,
) -> list[str]:
    """`inspector export --otlp URL / --otlp-json FILE`: the exchanges' spans sent and/or
    written; what was done, for the closing line. A backend that refuses them is an OSError."""
    from inspector.observe.export import open_export
    from inspector.observe.otlp import exchange_spans, otlp_json
    from inspector.observe.otlp_send import send_now

    options = span_options(args, redact=args.redact)
    spans: list[ReadableSpan] = []
    for x in exchanges:
        spans += exchange_spans(x, options, peers.get(prefix_of(x.id)), paired)
    done = []
    if args.otlp_json:
        try:
            with open_export(args.otlp_json) as file:
                file.write((otlp_json(spans) + "\n").encode())
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise OSError(f"cannot write {args.otlp_json}: {reason}") from None
        done.append(f"{counted(len(spans), 'span')} written to {Path(args.otlp_json)}")
    if args.otlp:
        url = send_now(args.otlp, spans, otlp_headers(args.otlp_headers))
        done.append(f"{counted(len(spans), 'span')} sent to {url}")
    return done
