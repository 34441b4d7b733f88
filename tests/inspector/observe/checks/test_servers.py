"""The mistakes real servers let through (or only complain about after the app made them),
made by real apps under uvicorn and gunicorn: the checks flag each from what was captured."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from inspector.observe.checks import check
from tests.servers import Server, raw_request, serve


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("uvicorn", "tests.apps.mistakes:asgi", tmp_path_factory.mktemp("uv")) as server:
        yield server


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("gunicorn", "tests.apps.mistakes:wsgi", tmp_path_factory.mktemp("gu")) as server:
        yield server


def found(server: Server, path: str, method: str = "GET") -> set[str]:
    marker = uuid.uuid4().hex[:12]
    request = f"{method} {path}?m={marker} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    raw_request(server.port, request.encode())
    return {finding.name for finding in check(server.exchange_events(marker))}


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/start-twice", "asgi.start-twice"),
        ("/body-after-end", "asgi.body-after-end"),
        ("/unfinished", "asgi.response-unfinished"),
        ("/upper-case", "asgi.header-name-case"),
        ("/no-type", "http.content-type-missing"),
        ("/redirect", "http.location-missing"),
        ("/unauthorized", "http.www-authenticate-missing"),
        ("/not-allowed", "http.allow-missing"),
        ("/duplicate", "http.header-duplicate"),
        ("/body-on-204", "http.body-on-204"),
        ("/str-body", "asgi.not-bytes"),
    ],
)
def test_uvicorn_app_mistakes(uvicorn: Server, path: str, rule: str) -> None:
    assert rule in found(uvicorn, path)


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/ws/send-before-accept", "asgi.ws-send-before-accept"),
        ("/ws/subprotocol", "ws.subprotocol-not-offered"),
        ("/ws/close-code", "ws.close-code-invalid"),
    ],
)
def test_uvicorn_websocket_mistakes(uvicorn: Server, path: str, rule: str) -> None:
    marker = uuid.uuid4().hex[:12]
    url = f"ws://127.0.0.1:{uvicorn.port}{path}?m={marker}"
    with contextlib.suppress(Exception), connect(url, subprotocols=["chat"]) as socket:  # type: ignore[list-item]
        socket.recv(timeout=5)
    assert rule in {f.name for f in check(uvicorn.exchange_events(marker))}


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/hop-by-hop", "wsgi.hop-by-hop"),
        ("/no-reason", "wsgi.status-format"),
        ("/twice", "wsgi.start-response-twice"),
        ("/write-after", "wsgi.write-after-iterable"),
        ("/short", "http.content-length-mismatch"),
        ("/no-type", "http.content-type-missing"),
    ],
)
def test_gunicorn_app_mistakes(gunicorn: Server, path: str, rule: str) -> None:
    assert rule in found(gunicorn, path)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/ok", "GET"),
        ("/ok", "HEAD"),
        ("/ok-stream", "GET"),
        ("/ok-204", "GET"),
        ("/ok-redirect", "GET"),
    ],
)
def test_correct_traffic_under_uvicorn_is_silent(uvicorn: Server, path: str, method: str) -> None:
    assert found(uvicorn, path, method) == set()


def test_correct_websocket_under_uvicorn_is_silent(uvicorn: Server) -> None:
    marker = uuid.uuid4().hex[:12]
    with connect(f"ws://127.0.0.1:{uvicorn.port}/ws/ok?m={marker}") as socket:
        assert socket.recv(timeout=5) == "hello"
    assert check(uvicorn.exchange_events(marker)) == ()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_correct_traffic_under_gunicorn_is_silent(gunicorn: Server, method: str) -> None:
    assert found(gunicorn, "/ok", method) == set()
