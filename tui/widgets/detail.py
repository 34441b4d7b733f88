"""The Request and Response panes of the detail screen: a first line, headers, then the body.

Each pane re-renders only when what it shows changed (a body grew, a response started), so a
streaming exchange updates live without resetting the reader's scroll position. A request or
response the viewer edited while intercept held it shows the edit first (what its peer
really received), then the original as its sender sent it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qsl

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector.events import JSON, Headers
from inspector.heads import parse_fields
from inspector.observe.exchange import Body, Exchange
from inspector.observe.store import Origin
from tui.widgets.body import render_body
from tui.widgets.cells import clock, duration, kv_table, printable, status_style


def headers_table(headers: Headers, title: str = "Headers") -> RenderableType:
    if not headers:
        return Text(f"{title}: none", style="dim")
    rows = ((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers)
    return Group(Text(title, style="bold underline"), kv_table(rows))


class _ExchangePane(VerticalScroll):
    DEFAULT_CSS = """
    _ExchangePane { padding: 0 1; }
    _ExchangePane > Static { margin-bottom: 1; }
    """

    def __init__(self, exchange: Exchange, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.exchange = exchange
        self._signature: tuple[object, ...] | None = None

    SECTIONS: tuple[str, ...] = ("summary", "headers", "body")

    def compose(self) -> ComposeResult:
        for name in self.SECTIONS:
            yield Static(classes=name)

    def on_mount(self) -> None:
        self.show(self.exchange)

    def show(self, exchange: Exchange) -> None:
        self.exchange = exchange
        signature = self.signature()
        if signature == self._signature:
            return
        self._signature = signature
        for name, section in zip(self.SECTIONS, self.sections(), strict=True):
            self.query_one(f".{name}", Static).update(section)

    def signature(self) -> tuple[object, ...]:
        raise NotImplementedError

    def sections(self) -> tuple[RenderableType, ...]:
        raise NotImplementedError


class RequestPane(_ExchangePane):
    SECTIONS = ("summary", "headers", "body", "snapshot")

    def __init__(
        self, exchange: Exchange, *, origin: Origin | None = None, id: str | None = None
    ) -> None:
        super().__init__(exchange, id=id)
        self.origin = origin

    def signature(self) -> tuple[object, ...]:
        exchange, body = self.exchange, self.exchange.request_body
        return exchange.request is None, body.size, body.complete, exchange.finished, exchange.edits

    def sections(self) -> tuple[RenderableType, ...]:
        exchange, request = self.exchange, self.exchange.request
        if request is None:
            return Text("the request was not captured", style="dim"), "", "", ""
        line = Text.assemble(
            (printable(request.method), "bold"),
            " ",
            printable(exchange.url),
            (printable(f"  HTTP/{request.http_version}"), "dim"),
        )
        facts = [clock(request.wall_time), request.source, request.kind]
        if request.client:
            facts.append(f"client {request.client[0]}:{request.client[1]}")
        if self.origin is not None:  # which worker process captured it
            host = f" on {self.origin.host}" if self.origin.host else ""
            facts.append(f"{self.origin}{host}")
        summary: list[RenderableType] = [line, Text(printable(" · ".join(facts)), style="dim")]
        if request.query:
            summary.append(_query_table(request.query.decode("latin-1")))
        edited = _edited(exchange, "request", "app")
        summary.extend(edited)
        complete = exchange.request_body.complete or exchange.finished is not None
        title = "Headers as the client sent them" if edited else "Headers"
        return (
            Group(*summary),
            headers_table(request.headers, title),
            render_body(request.headers, exchange.request_body, complete=complete),
            snapshot_table(request.source, request.snapshot),
        )


class ResponsePane(_ExchangePane):
    def signature(self) -> tuple[object, ...]:
        exchange = self.exchange
        return (
            exchange.response,
            exchange.response_body.size,
            exchange.finished,
            exchange.error,
            len(exchange.trailers),
            exchange.denied,
            exchange.accepted,
            exchange.edits,
        )

    def sections(self) -> tuple[RenderableType, ...]:
        exchange = self.exchange
        response = exchange.response
        status = exchange.status
        lines: list[RenderableType] = []
        if status is None:
            lines.append(Text("no response yet" if exchange.finished is None else "no response"))
        else:
            reason = response.reason if response is not None else ""
            lines.append(Text(printable(f"{status} {reason}".strip()), status_style(status)))
        facts = [exchange.state]
        if exchange.duration_ns is not None:
            facts.append(duration(exchange.duration_ns))
        if exchange.client_disconnected:
            facts.append("client disconnected")
        lines.append(Text(" · ".join(facts), style="dim"))
        for restart in exchange.restarts:
            lines.append(_line(f"start_response re-called: {restart.status} ({restart.error})"))
        for sent in exchange.files:
            lines.append(_line(f"file sent by the server ({sent.via}): {sent.path}", "cyan"))
        if exchange.error is not None:
            error = exchange.error
            lines.append(_line(f"{error.type}: {error.message}", "bold red", multiline=True))
            lines.append(_line(error.traceback.rstrip(), "red", multiline=True))
        for failure in exchange.capture_errors:
            lines.append(_line(f"capture failed in {failure.where}: {failure.error}", "yellow"))
        edited = _edited(exchange, "response", "client")
        lines.extend(edited)
        headers: list[RenderableType] = []
        if exchange.accepted is not None:
            headers.append(headers_table(exchange.accepted.headers, "Accept headers"))
        if exchange.denied is not None:
            headers.append(headers_table(exchange.denied.headers, "Denial headers"))
        if response is not None:
            title = "Headers as the app sent them" if edited else "Headers"
            headers.append(headers_table(response.headers, title))
        for trailer in exchange.trailers:
            headers.append(headers_table(trailer.headers, "Trailers"))
        body: RenderableType = ""
        if response is not None:
            body = render_body(
                response.headers,
                exchange.response_body,
                complete=exchange.response_body.complete or exchange.finished is not None,
            )
        return Group(*lines), Group(*headers), body


_SNAPSHOT_TITLES = {
    "asgi": "ASGI scope (its headers are above)",
    "wsgi": "WSGI environ (its HTTP_*, CONTENT_TYPE and CONTENT_LENGTH are the headers above)",
    "proxy": "Proxy connection",
}


def snapshot_table(source: str, snapshot: Mapping[str, JSON]) -> RenderableType:
    """The scope or environ as the app received it, one key per row, values as JSON."""
    if not snapshot:
        return ""
    rows = (
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in snapshot.items()
    )
    title = _SNAPSHOT_TITLES.get(source, "Snapshot")
    return Group(Text(title, style="bold underline"), kv_table(rows, "bold blue"))


def _edited(exchange: Exchange, what: str, peer: str) -> list[RenderableType]:
    """The viewer's edit of the request or response (intercept), as its `peer` received it:
    nothing if it was not edited."""
    edit = exchange.edit(what)
    if edit is None:
        return []
    headers = parse_fields(edit.head.partition(b"\r\n")[2])
    body = Body(bytearray(edit.body), len(edit.body), complete=True)
    sender = "client" if what == "request" else "app"
    return [
        Text(f"edited in the viewer: this is what the {peer} received", style="bold yellow"),
        Text(printable(edit.head.decode("latin-1"), multiline=True).rstrip("\n"), "yellow"),
        render_body(headers, body, complete=True),
        Text(f"the {what} as the {sender} sent it:", style="bold"),
    ]


def _query_table(query: str) -> RenderableType:
    rows = parse_qsl(query, keep_blank_values=True)
    return Group(Text("Query", style="bold underline"), kv_table(rows))


def _line(text: str, style: str = "", *, multiline: bool = False) -> Text:
    """Captured text (a reason, an error, a path) on its own line, safe to show."""
    return Text(printable(text, multiline=multiline), style)
