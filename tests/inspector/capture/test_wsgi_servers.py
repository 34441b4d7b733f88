"""WSGI capture under servers that look closely at what they are given (issue #11).

werkzeug's dev server (what `flask run` runs) hands Flask a socket file, which Flask reads
with `readinto()`. Each case is sent to the bare app and to the wrapped one: the responses
must be the same, and the capture must hold the body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from inspector import EventBus, WSGIInspectorMiddleware
from inspector.observe.exchange import fold
from tests.inspector.capture.conftest import collect

FORM = b"name=inspector&kind=wsgi"
FORM_TYPE = "application/x-www-form-urlencoded"
flask_app = Flask(__name__)


@flask_app.post("/echo")
def echo() -> bytes:
    return request.get_data()


@flask_app.post("/form")
def form() -> str:
    return ",".join(f"{key}={value}" for key, value in request.form.items())


@pytest.fixture
def werkzeug_url() -> Iterator[Callable[[Any], str]]:
    """Serve an app as `flask run` does: werkzeug's `make_server`, which `run_simple` calls."""
    servers = []

    def url(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.port}"

    yield url
    for server in servers:
        server.shutdown()
        server.server_close()


def post(url: str, chunked: bool) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers but Date, and body of a form post; an iterator is sent chunked."""
    content = iter([FORM[:5], FORM[5:]]) if chunked else FORM
    with httpx.Client() as client:
        response = client.post(url, content=content, headers={"Content-Type": FORM_TYPE})
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "date"]
    return response.status_code, headers, response.content


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/echo", "/form"])
def test_flask_under_werkzeug_captures_the_request_body(
    bus: EventBus, werkzeug_url: Callable[[Any], str], path: str, chunked: bool
) -> None:
    events = collect(bus)
    bare = post(werkzeug_url(flask_app) + path, chunked)
    wrapped = post(werkzeug_url(WSGIInspectorMiddleware(flask_app, bus=bus)) + path, chunked)
    assert wrapped == bare
    assert bare[0] == 200
    assert bus.flush()
    (exchange,) = fold(events).values()
    assert (exchange.request_body.data, exchange.request_body.complete) == (FORM, True)
    assert exchange.response_body.data == bare[2]
    assert exchange.finished is not None
    assert exchange.finished.outcome == "completed"
