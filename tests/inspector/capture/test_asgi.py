"""ASGI capture in-process: scope handling, pass-through of what we do not interpret, limits,
redaction, ASGI2, and failures inside capture. Real servers are in test_asgi_servers.py."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from inspector import ASGIInspectorMiddleware, EventBus
from inspector import events as ev
from tests.inspector.capture.conftest import collect

Message = dict[str, Any]


class FakeServer:
    """Hands the app prepared messages and keeps what the app sent, by identity."""

    def __init__(self, incoming: list[Message]) -> None:
        self.incoming = list(incoming)
        self.given: list[Message] = []
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        message = self.incoming.pop(0)
        self.given.append(message)
        return message

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def http_scope(**extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/p",
        "raw_path": b"/p",
        "query_string": b"q=1",
        "headers": [(b"host", b"example"), (b"authorization", b"Bearer secret")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {"db": object()},
        **extra,
    }


App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def run(
    middleware: ASGIInspectorMiddleware, scope: dict[str, Any], server: FakeServer
) -> None:
    await middleware(scope, server.receive, server.send)


async def test_scope_is_copied_with_the_exchange_id_and_state_is_shared(bus: EventBus) -> None:
    seen_scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen_scopes.append(scope)
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body"})

    scope = http_scope()
    before = dict(scope)
    await run(ASGIInspectorMiddleware(app, bus=bus), scope, FakeServer([]))
    (seen,) = seen_scopes
    assert seen is not scope
    assert scope == before  # the server's scope is left alone
    assert seen["state"] is scope["state"]
    assert seen["headers"] is scope["headers"]
    assert seen.pop("inspector.exchange_id")
    assert seen == scope


async def test_messages_pass_through_as_the_same_objects(bus: EventBus) -> None:
    received: list[Message] = []
    sent: list[Message] = [
        {"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")], "trailers": True},
        {"type": "http.response.body", "body": bytearray(b"mutable"), "more_body": True},
        {
            "type": "http.response.trailers",
            "headers": [(b"x-checksum", b"abc")],
            "more_trailers": False,
        },
        {"type": "http.response.future-extension", "payload": object()},
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        received.append(await receive())
        received.append(await receive())
        for message in sent:
            await send(message)

    server = FakeServer(
        [{"type": "http.request", "body": b"x", "more_body": False}, {"type": "http.disconnect"}]
    )
    events = collect(bus)
    await run(ASGIInspectorMiddleware(app, bus=bus), http_scope(), server)
    assert all(a is b for a, b in zip(received, server.given, strict=True))
    assert all(a is b for a, b in zip(server.sent, sent, strict=True))
    assert bus.flush()
    names = [type(e).__name__ for e in events]
    assert names == [
        "RequestStarted",
        "RequestBodyChunk",
        "ClientDisconnected",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ResponseTrailers",
        "MessageRelayed",
        "ExchangeFinished",
    ]
    assert events[3] == ev.ResponseStarted(
        events[3].exchange_id, events[3].at_ns, 200, ((b"a", b"1"),), True
    )
    chunk = events[4]
    assert isinstance(chunk, ev.ResponseBodyChunk)
    assert type(chunk.data) is bytes
    assert chunk.data == b"mutable"
    trailers = events[5]
    assert isinstance(trailers, ev.ResponseTrailers)
    assert trailers.headers == ((b"x-checksum", b"abc"),)
    assert (events[6].direction, events[6].type) == ("send", "http.response.future-extension")  # type: ignore[attr-defined]


async def test_file_sends_are_recorded_and_never_read(bus: EventBus, tmp_path: Any) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"file contents")
    missing = tmp_path / "never-opened.bin"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send(
            {
                "type": "http.response.zerocopysend",
                "file": read_end,
                "offset": 3,
                "count": 5,
                "more_body": True,
            }
        )
        await send({"type": "http.response.pathsend", "path": str(missing)})

    events = collect(bus)
    server = FakeServer([])
    await run(ASGIInspectorMiddleware(app, bus=bus), http_scope(), server)
    assert os.read(read_end, 100) == b"file contents"  # nothing consumed the descriptor
    os.close(read_end)
    os.close(write_end)
    assert [m["type"] for m in server.sent][1:] == [
        "http.response.zerocopysend",
        "http.response.pathsend",
    ]
    assert bus.flush()
    files = [e for e in events if isinstance(e, ev.ResponseFileSent)]
    assert [(f.via, f.path, f.offset, f.count, f.more_body) for f in files] == [
        ("zerocopysend", None, 3, 5, True),
        ("pathsend", str(missing), None, None, False),
    ]


@pytest.mark.parametrize("kind", ["lifespan", "custom.protocol"])
async def test_other_scope_types_pass_through_untouched(bus: EventBus, kind: str) -> None:
    calls: list[tuple[Any, Any, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append((scope, receive, send))
        await send(await receive())

    scope = {"type": kind, "state": {}}
    server = FakeServer([{"type": f"{kind}.startup"}])
    events = collect(bus)
    await run(ASGIInspectorMiddleware(app, bus=bus), scope, server)
    assert calls == [(scope, server.receive, server.send)]
    assert server.sent[0] is server.given[0]
    assert bus.flush()
    assert events == []


async def test_disabled_middleware_is_a_plain_pass_through(bus: EventBus) -> None:
    calls: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append((scope, receive, send))

    scope = http_scope()
    server = FakeServer([])
    events = collect(bus)
    await run(ASGIInspectorMiddleware(app, bus=bus, enabled=False), scope, server)
    assert calls == [(scope, server.receive, server.send)]
    assert bus.flush()
    assert events == []


async def test_asgi2_apps_are_supported(bus: EventBus) -> None:
    class ASGI2App:
        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 201})
            await send({"type": "http.response.body", "body": self.scope["path"].encode()})

    events = collect(bus)
    server = FakeServer([])
    await run(ASGIInspectorMiddleware(ASGI2App, bus=bus), http_scope(), server)
    assert server.sent[1]["body"] == b"/p"
    assert bus.flush()
    assert [type(e).__name__ for e in events] == [
        "RequestStarted",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]


async def test_body_limit_keeps_a_prefix_and_counts_everything(bus: EventBus) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200})
        for part in (b"abcd", b"efgh", b"ij"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    incoming = [
        {"type": "http.request", "body": b"12345", "more_body": True},
        {"type": "http.request", "body": b"678"},
    ]
    events = collect(bus)
    await run(
        ASGIInspectorMiddleware(app, bus=bus, body_limit=6), http_scope(), FakeServer(incoming)
    )
    assert bus.flush()
    requests = [(e.data, e.size) for e in events if isinstance(e, ev.RequestBodyChunk)]
    responses = [(e.data, e.size) for e in events if isinstance(e, ev.ResponseBodyChunk)]
    assert requests == [(b"12345", 5), (b"6", 3)]
    assert responses == [(b"abcd", 4), (b"ef", 4), (b"", 2), (b"", 0)]


async def test_redact_masks_secrets_in_events_only(bus: EventBus) -> None:
    app_saw: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        app_saw.append(scope["headers"])
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"Set-Cookie", b"sid=1")]}
        )
        await send({"type": "http.response.body"})

    events = collect(bus)
    server = FakeServer([])
    await run(ASGIInspectorMiddleware(app, bus=bus, redact=True), http_scope(), server)
    assert app_saw[0][1] == (b"authorization", b"Bearer secret")
    assert server.sent[0]["headers"] == [(b"Set-Cookie", b"sid=1")]
    assert bus.flush()
    started, response = events[0], events[1]
    assert isinstance(started, ev.RequestStarted)
    assert isinstance(response, ev.ResponseStarted)
    assert started.headers == ((b"host", b"example"), (b"authorization", b"[redacted]"))
    # The snapshot leaves the headers to the event: no second copy to mask, or to leak.
    assert "headers" not in started.snapshot
    assert "Bearer secret" not in repr(dict(started.snapshot))
    assert response.headers == ((b"Set-Cookie", b"[redacted]"),)


async def test_capture_failure_never_reaches_the_app(bus: EventBus) -> None:
    server_errors: list[Exception] = []

    async def strict_send(message: Message) -> None:
        if "status" not in message:
            server_errors.append(ValueError("server refuses a start without status"))
            raise server_errors[-1]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        with pytest.raises(ValueError, match="server refuses") as raised:
            await send({"type": "http.response.start"})  # malformed: our capture fails too
        assert raised.value is server_errors[0]  # the app sees the server's error, not ours
        await send({"type": "http.response.start", "status": 500})

    events = collect(bus)
    await ASGIInspectorMiddleware(app, bus=bus)(http_scope(), FakeServer([]).receive, strict_send)
    assert bus.flush()
    # Capture records the message as it is; the observer cannot read a start without a
    # status, and says so for that record alone.
    failures = [e for e in events if isinstance(e, ev.CaptureFailed)]
    assert [f.where for f in failures] == ["observer"]
    assert failures[0].error.startswith("AsgiSent: ")
    assert "status" in failures[0].error
    assert [e.status for e in events if isinstance(e, ev.ResponseStarted)] == [500]
    assert bus.stats().capture_errors == 1


async def test_cancellation_is_recorded_and_re_raised(bus: EventBus) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(3600)

    events = collect(bus)
    task = asyncio.ensure_future(
        ASGIInspectorMiddleware(app, bus=bus)(
            http_scope(), FakeServer([]).receive, FakeServer([]).send
        )
    )
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bus.flush()
    finished = events[-1]
    assert isinstance(finished, ev.ExchangeFinished)
    assert finished.outcome == "cancelled"
    assert not any(isinstance(e, ev.AppFailed) for e in events)


async def test_works_as_starlette_middleware(bus: EventBus) -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"hi {request.scope['inspector.exchange_id'] != ''}")

    app = Starlette(
        routes=[Route("/", hello)], middleware=[Middleware(ASGIInspectorMiddleware, bus=bus)]
    )
    events = collect(bus)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.get("/")
    assert response.text == "hi True"
    assert bus.flush()
    assert [type(e).__name__ for e in events][-1] == "ExchangeFinished"
    assert any(isinstance(e, ev.ResponseStarted) and e.status == 200 for e in events)


async def test_what_the_app_changes_after_send_is_not_captured(bus: EventBus) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        headers.append((b"x-added-after-send", b"1"))
        body = bytearray(b"first")
        await send({"type": "http.response.body", "body": body, "more_body": True})
        body[:] = b"XXXXX"
        await send({"type": "http.response.body", "body": body})

    events = collect(bus)
    await run(ASGIInspectorMiddleware(app, bus=bus), http_scope(), FakeServer([]))
    assert bus.flush()
    started = next(e for e in events if isinstance(e, ev.ResponseStarted))
    assert started.headers == ((b"content-type", b"text/plain"),)
    bodies = [e.data for e in events if isinstance(e, ev.ResponseBodyChunk)]
    assert bodies == [b"first", b"XXXXX"]


class Opaque:
    """An app object in the scope: capture must never call its repr (or anything else)."""

    def __repr__(self) -> str:
        raise AssertionError("repr was called")


async def test_scope_objects_are_named_and_a_huge_lifespan_state_is_cut(bus: EventBus) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})

    state = {f"key{n}": n for n in range(100_000)}  # uvicorn copies it into every scope
    state["pool"] = Opaque()
    scope = http_scope(state=state, app=Opaque())
    events = collect(bus)
    await run(ASGIInspectorMiddleware(app, bus=bus), scope, FakeServer([]))
    assert bus.flush()
    started = next(e for e in events if isinstance(e, ev.RequestStarted))
    assert started.snapshot["app"] == "<Opaque>"
    assert len(started.snapshot["state"]) == 101
    assert started.snapshot["state"]["…"] == "99901 more"
    assert len(scope["state"]) == 100_001  # the app's own state is left alone


async def test_a_huge_header_list_is_recorded_cut_and_says_so(
    bus: EventBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inspector import records

    monkeypatch.setattr(records, "MAX_RECORD", 64 * 1024)
    small = EventBus()  # a buffer made now takes the smaller limit
    headers = [(b"x-%d" % n, b"v" * 100) for n in range(5_000)]  # ~600 KB of headers
    seen: list[ev.Event] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen_headers = scope["headers"]
        assert seen_headers is headers  # the app gets them all, untouched
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    small.subscribe(seen.extend)
    server = FakeServer([])
    await run(ASGIInspectorMiddleware(app, bus=small), http_scope(headers=headers), server)
    assert small.flush()
    small.close()
    assert server.sent[0]["headers"] is headers
    started = next(e for e in seen if isinstance(e, ev.RequestStarted))
    assert len(started.headers) == 100
    response = next(e for e in seen if isinstance(e, ev.ResponseStarted))
    assert len(response.headers) == 100
    failures = [e.error for e in seen if isinstance(e, ev.CaptureFailed)]
    assert len(failures) == 2
    assert all("over the 65536 limit: cut to fit" in error for error in failures)
    assert isinstance(seen[-1], ev.ExchangeFinished)
