"""Exchanges as OpenTelemetry spans, as the HTTP semantic conventions describe them.

`exchange_spans(exchange, ...)` turns one finished `Exchange` into the SDK's `ReadableSpan`s
(no I/O): a SERVER span named `{method} {http.route}` (or `{method}`), with the request's
facts as attributes, its phases and WebSocket messages as span events, and wall-clock times
derived from the events. A request that carried a W3C `traceparent` joins that trace as its
child. Proxy and app records of one request (`paired`) are reported as two services would:
the proxy's SERVER span, its CLIENT child for the upstream call, and the app's SERVER span as
that CLIENT span's child. Span ids are derived from exchange ids, so each side finds the
other's ids without waiting for it, and exporting a session twice sends the same spans.
`otlp_json` writes spans in the OTLP/JSON encoding. Only imported when OTLP is asked for: it
needs the `otlp` extra (`opentelemetry-sdk`, `opentelemetry-exporter-otlp-proto-http`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    get_current_span,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from inspector import events as ev
from inspector.observe.exchange import Body, Exchange, header
from inspector.observe.store import Origin
from inspector.records import DEFAULT_BODY_LIMIT
from inspector.redact import mask_headers

Paired = Callable[[Exchange], Exchange | None]
"""The other record of the same request (a proxy's exchange and its app's), or None."""

TEXT_PREFIX = 64
"""Characters of a WebSocket text message kept in its span event."""
MAX_MESSAGE_EVENTS = 128
"""WebSocket messages listed as span events (the SDK's default event limit); the rest are
counted in the span's attributes."""
_BODY_OUT = (ev.ResponseBodyChunk, ev.ResponseBodyWritten)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class SpanOptions:
    service: str | None = None
    """`service.name` of every span; else the recording process's name (or inspect-proxy)."""
    capture_headers: frozenset[str] = frozenset()
    """Lower-case header names recorded as `http.{request,response}.header.<name>`."""
    bodies: bool = False
    """Record body content (`http.{request,response}.body.content`) and message text."""
    redact: frozenset[str] = frozenset()
    """Header names whose values are masked first."""
    body_limit: int = DEFAULT_BODY_LIMIT
    scope_version: str = "unknown"
    resources: dict[tuple[str, str, int], Resource] = field(default_factory=dict, compare=False)


def exchange_spans(
    x: Exchange,
    options: SpanOptions,
    peer: Origin | None = None,
    paired: Paired | None = None,
    first_byte_at: int | None = None,
) -> list[ReadableSpan]:
    """The spans of one exchange that has a request: its SERVER span, and for a proxy's
    exchange whose app exchange is known (`paired`) the CLIENT span of the upstream call.
    `first_byte_at`: when the first response body byte passed (monotonic ns), if the
    exchange was folded without its event list."""
    request = x.request
    assert request is not None
    partner = paired(x) if paired is not None else None
    if partner is not None and partner.request is None:
        partner = None
    start = _wall_ns(request.wall_time)
    end = start + (max(x.finished.total_ns, 0) if x.finished is not None else 0)
    resource = _resource(options, request, peer)
    scope = InstrumentationScope("inspector", options.scope_version)
    if request.source != "proxy" and partner is not None and partner.request is not None:
        # The app's side: a child of the proxy's CLIENT span, in the proxy's trace.
        trace_id, _ = _trace_of(partner)
        parent: SpanContext | None = _context(trace_id, _span_id(partner.id, "client"), True)
    else:
        trace_id, parent = _trace_of(x)
    server = _context(trace_id, _span_id(x.id, "server"), False)
    status, error_type = _status(x, "server")
    attributes = _server_attributes(x, options)
    if error_type:
        attributes["error.type"] = error_type
    route = x.finished.route if x.finished is not None else None
    name = f"{request.method} {route}" if route else request.method
    spans = [
        ReadableSpan(
            name,
            context=server,
            parent=parent,
            resource=resource,
            attributes=attributes,
            events=_events(x, options, start, first_byte_at),
            kind=SpanKind.SERVER,
            status=status,
            start_time=start,
            end_time=end,
            instrumentation_scope=scope,
        )
    ]
    if request.source == "proxy" and partner is not None:
        spans.append(_client_span(x, options, server, resource, scope, start, end))
    return spans


def _client_span(
    x: Exchange,
    options: SpanOptions,
    server: SpanContext,
    resource: Resource,
    scope: InstrumentationScope,
    start: int,
    end: int,
) -> ReadableSpan:
    """The proxy's call to its upstream, from the proxy's own record: it spans the
    exchange, as the proxy records no time of its own for the upstream connection."""
    request = x.request
    assert request is not None
    upstream = str(request.snapshot.get("upstream", ""))
    host, _, port = upstream.rpartition(":")
    target = request.raw_path.decode("latin-1") if request.raw_path else request.path
    query = "?" + request.query.decode("latin-1") if request.query else ""
    attributes: dict[str, Any] = {
        "http.request.method": request.method,
        "url.full": f"{'ws' if x.is_websocket else 'http'}://{upstream}{target}{query}",
        "server.address": host or upstream,
        "network.protocol.version": request.http_version,
    }
    if port.isdigit():
        attributes["server.port"] = int(port)
    if x.status is not None:
        attributes["http.response.status_code"] = x.status
    status, error_type = _status(x, "client")
    if error_type:
        attributes["error.type"] = error_type
    return ReadableSpan(
        request.method,
        context=_context(server.trace_id, _span_id(x.id, "client"), False),
        parent=server,
        resource=resource,
        attributes=attributes,
        kind=SpanKind.CLIENT,
        status=status,
        start_time=start,
        end_time=end,
        instrumentation_scope=scope,
    )


# -- ids and trace context ----------------------------------------------------------------


def _digest(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big")
    return value or 1  # all zeros is the invalid id (W3C Trace Context 3.2.2.3)


def _span_id(exchange_id: str, role: str) -> int:
    return _digest(f"{exchange_id}/{role}", 8)


def _context(trace_id: int, span_id: int, remote: bool) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=_SAMPLED)


def _trace_of(x: Exchange) -> tuple[int, SpanContext | None]:
    """The trace an exchange belongs to and its parent: the request's `traceparent`, read by
    OpenTelemetry's own W3C propagator, else a new trace named by the exchange id."""
    request = x.request
    assert request is not None
    carrier = {}
    for name in (b"traceparent", b"tracestate"):
        value = header(request.headers, name)
        if value is not None:
            carrier[name.decode()] = value
    if "traceparent" in carrier:
        context = get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
        if context is not INVALID_SPAN_CONTEXT and context.is_valid:
            return context.trace_id, context
    return _digest(x.id, 16), None


# -- attributes -----------------------------------------------------------------------------


def _wall_ns(wall_time: float) -> int:
    return int(wall_time * 1e9) if 0.0 <= wall_time < 253402300799.0 else 0


def _resource(options: SpanOptions, request: ev.RequestStarted, peer: Origin | None) -> Resource:
    peer = peer or Origin("", 0)
    # The proxy is a service of its own even where it shares a process with the app (demo).
    name = options.service or ("inspect-proxy" if request.source == "proxy" else peer.name)
    key = (name or "unknown_service", peer.host, peer.pid)
    resource = options.resources.get(key)
    if resource is None:
        attributes: dict[str, Any] = {"service.name": key[0]}
        if peer.host:
            attributes["host.name"] = peer.host
        if peer.pid:
            attributes["process.pid"] = peer.pid
        # One object per process: the encoder groups spans by resource.
        resource = options.resources[key] = Resource(attributes)
    return resource


def _server_attributes(x: Exchange, options: SpanOptions) -> dict[str, Any]:
    request = x.request
    assert request is not None
    attributes: dict[str, Any] = {
        "http.request.method": request.method,
        "url.path": request.path,
        "url.scheme": request.scheme,
        "network.protocol.version": request.http_version,
        "http.request.body.size": x.request_body.size,
        "inspector.exchange.id": x.id,
        "inspector.source": request.source,
    }
    if request.query:
        attributes["url.query"] = request.query.decode("latin-1")
    host = header(request.headers, b"host")
    if host is not None:  # semantic conventions: the Host header first, then the socket
        name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        attributes["server.address"] = name if port.isdigit() else host
        if port.isdigit():
            attributes["server.port"] = int(port)
    elif request.server is not None:
        attributes["server.address"] = request.server[0]
        if request.server[1] is not None:
            attributes["server.port"] = request.server[1]
    if request.client is not None:
        attributes["client.address"] = request.client[0]
        if request.client[1] is not None:
            attributes["client.port"] = request.client[1]
    agent = header(request.headers, b"user-agent")
    if agent is not None:
        attributes["user_agent.original"] = agent
    if x.finished is not None and x.finished.route:
        attributes["http.route"] = x.finished.route
    if x.status is not None:
        attributes["http.response.status_code"] = x.status
    answered = x.response is not None or x.denied is not None
    if answered:
        attributes["http.response.body.size"] = x.response_body.size
    response_headers = _response_headers(x)
    for direction, headers in (("request", request.headers), ("response", response_headers)):
        attributes.update(_header_attributes(direction, headers, options))
    if options.bodies:
        for direction, body in (("request", x.request_body), ("response", x.response_body)):
            if body.data:
                attributes[f"http.{direction}.body.content"] = _content(body, options)
    if x.is_websocket:
        attributes["websocket.message.count"] = sum(x.message_counts.values())
        attributes["websocket.message.client.count"] = x.message_counts["client"]
        attributes["websocket.message.server.count"] = x.message_counts["server"]
        if x.closed is not None:
            attributes["websocket.close.code"] = x.closed.code
            attributes["websocket.close.sender"] = x.closed.sender
            if x.closed.reason:
                attributes["websocket.close.reason"] = x.closed.reason
    return attributes


def _response_headers(x: Exchange) -> ev.Headers:
    if x.denied is not None:
        return x.denied.headers
    if x.accepted is not None:
        return x.accepted.headers
    return x.response.headers if x.response is not None else ()


def _header_attributes(
    direction: str, headers: ev.Headers, options: SpanOptions
) -> dict[str, list[str]]:
    """Semantic conventions: `http.<direction>.header.<lower-case name>`, a list of the
    values (duplicates kept in order); only the names asked for, secrets masked first."""
    if not options.capture_headers:
        return {}
    values: dict[str, list[str]] = {}
    for name, value in mask_headers(headers, options.redact):
        key = name.decode("latin-1").lower()
        if key in options.capture_headers:
            values.setdefault(f"http.{direction}.header.{key}", []).append(value.decode("latin-1"))
    return values


def _content(body: Body, options: SpanOptions) -> str:
    return bytes(body.data[: options.body_limit]).decode("utf-8", "replace")


def _status(x: Exchange, kind: str) -> tuple[Status, str]:
    """Semantic conventions: a SERVER span is an error on 5xx (a 4xx is the client's doing),
    a CLIENT span from 4xx up; either when no response came because of a failure."""
    status = x.status
    if x.error is not None:
        return Status(StatusCode.ERROR, f"{x.error.type}: {x.error.message}"), x.error.type
    if status is not None and status >= (500 if kind == "server" else 400):
        return Status(StatusCode.ERROR), str(status)
    outcome = x.finished.outcome if x.finished is not None else "unfinished"
    if status is None and outcome in ("failed", "cancelled"):
        return Status(StatusCode.ERROR, f"no response: {outcome}"), outcome
    return Status(StatusCode.UNSET), ""


# -- events ---------------------------------------------------------------------------------


def _events(
    x: Exchange, options: SpanOptions, start: int, first_byte_at: int | None
) -> list[Event]:
    request = x.request
    assert request is not None

    def at(monotonic_ns: int) -> int:
        return start + max(monotonic_ns - request.at_ns, 0)

    events: list[tuple[int, Event]] = []
    finished = x.finished
    if finished is not None and finished.request_ns is not None and not x.is_websocket:
        when = start + finished.request_ns
        events.append((when, Event("request.body.received", {}, when)))
    head = x.response or x.denied
    if head is not None:
        status = {"http.response.status_code": x.status or 0}
        events.append((at(head.at_ns), Event("response.started", status, at(head.at_ns))))
    if first_byte_at is None:  # an exchange folded with its events (a session) knows it
        first_byte_at = next(
            (e.at_ns for e in x.events if isinstance(e, _BODY_OUT) and e.size), None
        )
    if first_byte_at is not None:
        events.append((at(first_byte_at), Event("response.first_byte", {}, at(first_byte_at))))
    if x.accepted is not None:
        events.append((at(x.accepted.at_ns), Event("websocket.accepted", {}, at(x.accepted.at_ns))))
    for message in x.messages[:MAX_MESSAGE_EVENTS]:
        events.append((at(message.at_ns), _message_event(message, options, at(message.at_ns))))
    if x.closed is not None:
        closed = {"websocket.close.code": x.closed.code, "websocket.close.sender": x.closed.sender}
        events.append((at(x.closed.at_ns), Event("websocket.closed", closed, at(x.closed.at_ns))))
    if x.error is not None:
        # Semantic conventions' exception event (no stack trace: it may hold secrets).
        failure = {"exception.type": x.error.type, "exception.message": x.error.message}
        events.append((at(x.error.at_ns), Event("exception", failure, at(x.error.at_ns))))
    events.sort(key=lambda pair: pair[0])
    return [event for _, event in events]


def _message_event(message: ev.WebSocketMessage, options: SpanOptions, when: int) -> Event:
    attributes: dict[str, Any] = {
        "websocket.message.direction": "client_to_server"
        if message.sender == "client"
        else "server_to_client",
        "websocket.message.type": "text" if message.text is not None else "binary",
        "websocket.message.size": message.size,
    }
    if message.text is not None:
        attributes["websocket.message.text_prefix"] = message.text[:TEXT_PREFIX]
    if options.bodies and message.data is not None:
        attributes["websocket.message.data_prefix"] = base64.b64encode(
            message.data[:TEXT_PREFIX]
        ).decode("ascii")
    return Event("websocket.message", attributes, when)


# -- OTLP/JSON ------------------------------------------------------------------------------

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def otlp_json(spans: Sequence[ReadableSpan]) -> str:
    """The spans as one OTLP/JSON `ExportTraceServiceRequest` (one line: a collector's
    otlpjsonfile receiver reads a request per line), encoded by the official protobuf
    definitions and `json_format`, then brought to the OTLP/JSON rules (OTLP specification,
    "JSON Protobuf Encoding"): trace and span ids as hex rather than base64, enums as
    integers, lowerCamelCase field names."""
    message = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in message.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                _hex_ids(span)
                for link in span.get("links", ()):
                    _hex_ids(link)
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def _hex_ids(item: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        if key in item:
            item[key] = base64.b64decode(item[key]).hex()
