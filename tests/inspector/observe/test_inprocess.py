"""In-process replay: a captured request sent again through the ASGI or WSGI app object, its
answer recorded as events that fold into a new exchange marked as the original's replay."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from inspector import events as ev
from inspector.observe.apps import AppError, app_kind, load_app
from inspector.observe.exchange import Exchange, fold
from inspector.observe.inprocess import replay_in_process


def captured(
    method: str, path: str, query: bytes = b"", body: bytes = b"", source: str = "asgi"
) -> Exchange:
    headers = ((b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"))
    if body:
        headers += ((b"content-length", str(len(body)).encode()),)
    started = ev.RequestStarted(
        "orig-1",
        1_000,
        source=source,  # type: ignore[arg-type]
        kind="http",
        method=method,
        scheme="http",
        http_version="1.1",
        path=path,
        raw_path=path.encode(),
        query=query,
        headers=headers,
        client=("127.0.0.1", 50000),
        server=("127.0.0.1", 8000),
        wall_time=1_700_000_000.0,
        snapshot={},
    )
    chunk = ev.RequestBodyChunk("orig-1", 2_000, body, len(body), False)
    return fold([started, chunk])["orig-1"]


async def replayed(exchange: Exchange, target: str) -> tuple[Exchange, Any]:
    events: list[ev.Event] = []
    done = await replay_in_process(exchange, events.extend, load_app(target), xid="again-1")
    return fold(events)["again-1"], done


async def test_an_asgi_app_answers_in_process_as_a_new_replay_exchange() -> None:
    body = json.dumps({"id": 5, "name": "saw"}).encode()
    again, done = await replayed(
        captured("POST", "/api/items", body=body), "tests.apps.traffic_asgi:app"
    )
    assert (done.status, done.reason, done.error) == (201, "Created", None)
    assert again.request is not None
    assert again.request.snapshot == {"replay_of": "orig-1"}
    assert again.request.source == "asgi"
    assert again.status == 201
    assert json.loads(bytes(again.response_body.data)) == {"created": {"id": 5, "name": "saw"}}
    assert again.finished is not None
    assert again.finished.outcome == "completed"
    assert "through tests.apps.traffic_asgi:app answered 201 Created" in done.summary(
        "tests.apps.traffic_asgi:app"
    )


async def test_a_wsgi_app_answers_in_process_through_wsgitransport() -> None:
    exchange = captured("GET", "/robots.txt", source="wsgi")
    again, done = await replayed(exchange, "tests.apps.traffic_wsgi:app")
    assert done.status == 200
    assert again.request is not None
    assert again.request.source == "wsgi"
    assert bytes(again.response_body.data) == b"User-agent: *\nDisallow: /private\n"
    assert again.response is not None
    assert (
        b"Content-Type",
        b"text/plain; charset=utf-8",
    ) in again.response.headers


async def test_the_apps_exception_is_a_failed_exchange_never_an_exception() -> None:
    # The form handler reads `user`; a body without it raises KeyError in the app.
    exchange = captured("POST", "/login", body=b"nobody=1")
    again, done = await replayed(exchange, "tests.apps.traffic_asgi:app")
    assert done.error is not None
    assert done.error.startswith("KeyError")
    assert again.error is not None
    assert again.error.type == "KeyError"
    assert again.finished is not None
    assert again.finished.outcome == "failed"


async def test_a_body_capture_cut_is_sent_as_kept_with_a_matching_length() -> None:
    exchange = captured("POST", "/api/items", body=b'{"id": 1}')
    exchange.request_body.size = 100  # capture kept 9 of 100 bytes
    assert exchange.request is not None
    headers = ((b"content-type", b"application/json"), (b"content-length", b"100"))
    exchange.request = msgspec.structs.replace(exchange.request, headers=headers)
    _, done = await replayed(exchange, "tests.apps.traffic_asgi:app")
    assert "Content-Length was set to the 9 body bytes kept." in done.notes
    assert "Sent the 9 request body bytes capture kept." in done.notes


def test_apps_are_told_apart_and_bad_targets_refused() -> None:
    from starlette.applications import Starlette

    async def asgi(scope: Any, receive: Any, send: Any) -> None: ...

    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        return []

    assert app_kind(Starlette()) == "asgi"
    assert app_kind(asgi) == "asgi"
    assert app_kind(wsgi) == "wsgi"
    assert load_app("tests.apps.traffic_wsgi:app").kind == "wsgi"
    with pytest.raises(AppError, match="module:attr"):
        load_app("tests.apps.traffic_asgi")
    with pytest.raises(AppError, match="is not an app: a bool"):
        load_app("tests.apps.traffic_asgi:CHANGED")
