"""Exchanges as OTLP spans: real traffic through the ASGI middleware and the proxy, spans sent
with the official exporter to a real OTLP/HTTP endpoint that decodes them with the official
protobuf definitions, and the OTLP/JSON encoding read back with them."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect

from inspector import ASGIInspectorMiddleware, EventBus
from inspector.observe.exchange import Exchange
from inspector.observe.otlp import SpanOptions, exchange_spans, otlp_json
from inspector.observe.otlp_send import send_now
from inspector.observe.store import Origin
from inspector.redact import SENSITIVE_HEADERS
from tests.otlp_backend import (
    Backend,
    Received,
    Traffic,
    backend,
    flatten,
    pair_by_request,
    traffic,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


async def item(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"id": request.path_params["id"], "got": body.decode()})


async def fail(request: Request) -> Response:
    raise RuntimeError("broken on purpose")


async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text("echo: " + text)
    await websocket.send_bytes(b"\x00\x01")
    await websocket.close(code=4001)


def app(bus: EventBus) -> Starlette:
    routes = [
        Route("/items/{id:int}", item, methods=["GET", "POST"]),
        Route("/fail", fail),
        WebSocketRoute("/chat", chat),
        Mount("/v2", routes=[Route("/things/{name}", item)]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(ASGIInspectorMiddleware, bus=bus)])


@pytest.fixture
def running() -> Iterator[Traffic]:
    with traffic(app) as t:
        yield t


@pytest.fixture
def otlp() -> Iterator[Backend]:
    with backend() as b:
        yield b


def send(b: Backend, exchanges: list[Exchange], options: SpanOptions, **kw: Any) -> list[Received]:
    spans = [s for x in exchanges for s in exchange_spans(x, options, **kw)]
    send_now(b.url, spans)
    return b.spans(len(spans))


def only(spans: list[Received], kind: int = Span.SPAN_KIND_SERVER) -> Received:
    (span,) = [s for s in spans if s.span.kind == kind]
    return span


def test_an_http_exchange_is_a_server_span_joining_the_caller_s_trace(
    running: Traffic, otlp: Backend
) -> None:
    headers = {"traceparent": f"00-{TRACE}-{PARENT}-01", "user-agent": "tester/1"}
    httpx.post(f"{running.app_url}/items/7?x=1", content=b"hello", headers=headers)
    (x,) = running.exchanges(1)
    peer = Origin("web-1", 4242, "uvicorn")
    span = only(send(otlp, [x], SpanOptions(scope_version="9"), peer=peer))
    s = span.span
    assert s.name == "POST /items/{id}"
    assert s.trace_id.hex() == TRACE
    assert s.parent_span_id.hex() == PARENT
    assert span.resource == {"service.name": "uvicorn", "host.name": "web-1", "process.pid": 4242}
    assert span.attributes | {"client.port": 0} == {
        "http.request.method": "POST",
        "http.route": "/items/{id}",
        "url.path": "/items/7",
        "url.query": "x=1",
        "url.scheme": "http",
        "server.address": "127.0.0.1",
        "server.port": running.app_port,
        "client.address": "127.0.0.1",
        "client.port": 0,
        "network.protocol.version": "1.1",
        "user_agent.original": "tester/1",
        "http.request.body.size": 5,
        "http.response.status_code": 200,
        "http.response.body.size": len(b'{"id":7,"got":"hello"}'),
        "inspector.exchange.id": x.id,
        "inspector.source": "asgi",
    }
    assert s.status.code == Status.STATUS_CODE_UNSET
    # Wall-clock times from the events: the phases in order, inside the span.
    assert x.request is not None
    assert x.finished is not None
    assert s.start_time_unix_nano == int(x.request.wall_time * 1e9)
    assert s.end_time_unix_nano - s.start_time_unix_nano == x.finished.total_ns
    names = [name for name, _, _ in span.events()]
    assert names == ["request.body.received", "response.started", "response.first_byte"]
    times = [t for _, _, t in span.events()]
    assert s.start_time_unix_nano <= times[0] <= times[1] <= times[2] <= s.end_time_unix_nano
    assert span.events()[1][1] == {"http.response.status_code": 200}


def test_without_a_traceparent_an_exchange_starts_a_trace_and_mounts_prefix_the_route(
    running: Traffic, otlp: Backend
) -> None:
    httpx.get(f"{running.app_url}/v2/things/kettle")
    (x,) = running.exchanges(1)
    span = only(send(otlp, [x], SpanOptions()))
    assert span.span.name == "GET /v2/things/{name}"
    assert span.span.parent_span_id == b""
    assert len(span.span.trace_id) == 16
    assert any(span.span.trace_id)
    assert span.resource == {"service.name": "unknown_service"}


def test_a_failure_is_an_error_span_with_its_exception_event(
    running: Traffic, otlp: Backend
) -> None:
    assert httpx.get(f"{running.app_url}/fail").status_code == 500
    (x,) = running.exchanges(1)
    span = only(send(otlp, [x], SpanOptions()))
    assert span.span.name == "GET /fail"
    assert span.span.status.code == Status.STATUS_CODE_ERROR
    assert span.span.status.message == "RuntimeError: broken on purpose"
    assert span.attributes["error.type"] == "RuntimeError"
    # Starlette's error middleware, outside the capture, answered the 500: the app did not.
    assert "http.response.status_code" not in span.attributes
    exception = [attrs for name, attrs, _ in span.events() if name == "exception"]
    assert exception == [
        {"exception.type": "RuntimeError", "exception.message": "broken on purpose"}
    ]


def test_a_websocket_conversation_is_one_span_with_its_messages_as_events(
    running: Traffic, otlp: Backend
) -> None:
    with connect(running.app_url.replace("http", "ws") + "/chat") as ws:
        ws.send("hello " + "x" * 100)
        assert ws.recv().startswith("echo: hello")
        assert ws.recv() == b"\x00\x01"
        with contextlib.suppress(Exception):
            ws.recv()
    (x,) = running.exchanges(1)
    span = only(send(otlp, [x], SpanOptions()))
    assert span.span.name == "GET /chat"
    attributes = span.attributes
    assert attributes["http.response.status_code"] == 101
    assert attributes["websocket.message.count"] == 3
    assert attributes["websocket.close.code"] == 4001
    messages = [attrs for name, attrs, _ in span.events() if name == "websocket.message"]
    assert messages == [
        {
            "websocket.message.direction": "client_to_server",
            "websocket.message.type": "text",
            "websocket.message.size": 106,
            "websocket.message.text_prefix": ("hello " + "x" * 100)[:64],
        },
        {
            "websocket.message.direction": "server_to_client",
            "websocket.message.type": "text",
            "websocket.message.size": 112,
            "websocket.message.text_prefix": ("echo: hello " + "x" * 100)[:64],
        },
        {
            "websocket.message.direction": "server_to_client",
            "websocket.message.type": "binary",
            "websocket.message.size": 2,
        },
    ]
    names = [name for name, _, _ in span.events()]
    assert names[0] == "websocket.accepted"
    assert names[-1] == "websocket.closed"
    times = [t for _, _, t in span.events()]
    assert times == sorted(times)
    assert span.span.start_time_unix_nano <= times[0]
    assert times[-1] <= span.span.end_time_unix_nano


def test_a_proxy_and_its_app_are_two_services_linked_through_a_client_span(
    running: Traffic, otlp: Backend
) -> None:
    headers = {"traceparent": f"00-{TRACE}-{PARENT}-01"}
    httpx.get(f"{running.proxy_url}/items/3", headers=headers)
    exchanges = running.exchanges(2)
    paired = pair_by_request(exchanges)
    spans = send(otlp, exchanges, SpanOptions(), paired=paired)
    proxy = [s for s in spans if s.attributes.get("inspector.source") == "proxy"]
    (server,) = [s for s in proxy if s.span.kind == Span.SPAN_KIND_SERVER]
    client = only(spans, Span.SPAN_KIND_CLIENT)
    (app_span,) = [s for s in spans if s.attributes.get("inspector.source") == "asgi"]
    # The caller's trace, then proxy SERVER -> proxy CLIENT -> app SERVER.
    assert {s.span.trace_id.hex() for s in spans} == {TRACE}
    assert server.span.parent_span_id.hex() == PARENT
    assert client.span.parent_span_id == server.span.span_id
    assert app_span.span.parent_span_id == client.span.span_id
    assert server.resource["service.name"] == "inspect-proxy"
    assert server.span.name == "GET"  # the proxy knows no route
    assert app_span.span.name == "GET /items/{id}"
    assert client.span.name == "GET"
    assert client.attributes == {
        "http.request.method": "GET",
        "url.full": f"http://127.0.0.1:{running.app_port}/items/3",
        "server.address": "127.0.0.1",
        "server.port": running.app_port,
        "network.protocol.version": "1.1",
        "http.response.status_code": 200,
    }
    # The app's span lies within the proxy's.
    assert server.span.start_time_unix_nano <= app_span.span.start_time_unix_nano
    assert app_span.span.end_time_unix_nano <= server.span.end_time_unix_nano


def test_headers_only_as_asked_secrets_masked_bodies_only_when_asked(
    running: Traffic, otlp: Backend
) -> None:
    headers = {"authorization": "Bearer s3cret", "x-team": "blue"}
    httpx.post(f"{running.app_url}/items/1", content=b"payload", headers=headers)
    (x,) = running.exchanges(1)
    asked = frozenset({"authorization", "x-team", "content-type"})
    plain = only(send(otlp, [x], SpanOptions(capture_headers=asked, redact=SENSITIVE_HEADERS)))
    assert plain.attributes["http.request.header.authorization"] == ["[redacted]"]
    assert plain.attributes["http.request.header.x-team"] == ["blue"]
    assert plain.attributes["http.response.header.content-type"] == ["application/json"]
    assert "http.request.header.user-agent" not in plain.attributes
    assert not any("body.content" in key for key in plain.attributes)
    assert "s3cret" not in str(otlp.requests)

    bodies = SpanOptions(bodies=True, body_limit=4, redact=SENSITIVE_HEADERS)
    span = only(send(otlp, [x], bodies)[1:])
    assert span.attributes["http.request.body.content"] == "payl"
    assert span.attributes["http.response.body.content"] == '{"id'


def test_otlp_json_reads_back_with_the_official_definitions_after_the_id_rules(
    running: Traffic,
) -> None:
    headers = {"traceparent": f"00-{TRACE}-{PARENT}-01"}
    httpx.get(f"{running.proxy_url}/items/5", headers=headers)
    exchanges = running.exchanges(2)
    spans = [
        s
        for x in exchanges
        for s in exchange_spans(x, SpanOptions(), paired=pair_by_request(exchanges))
    ]
    text = otlp_json(spans)
    assert "\n" not in text
    document = json.loads(text)
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    # OTLP/JSON: ids are hex, enums integers, field names lowerCamelCase.
    assert span["traceId"] == TRACE
    assert isinstance(span["kind"], int)
    assert "startTimeUnixNano" in span
    # The spec's mapping back: hex ids to the bytes protobuf's JSON reads as base64.
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for s in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    request = json_format.ParseDict(document, ExportTraceServiceRequest())
    decoded = flatten(request)
    assert len(decoded) == 3
    kinds = sorted(r.span.kind for r in decoded)
    assert kinds == [Span.SPAN_KIND_SERVER, Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT]
    assert {r.span.trace_id.hex() for r in decoded} == {TRACE}
    client = only(decoded, Span.SPAN_KIND_CLIENT)
    (app_span,) = [r for r in decoded if r.attributes.get("inspector.source") == "asgi"]
    assert app_span.span.parent_span_id == client.span.span_id
