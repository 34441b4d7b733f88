"""WSGI capture under servers that look closely at what they are given (issue #11).

werkzeug's dev server (what `flask run` runs) hands Flask a socket file, which Flask reads
with `readinto()`; granian sets Content-Length only when the app's result is a list. Each
case is sent to the bare app and to the wrapped one: the responses must be the same, and the
capture must hold the body.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from inspector import EventBus, WSGIInspectorMiddleware
from inspector import events as ev
from inspector.observe.exchange import Exchange, fold
from tests.inspector.capture.conftest import collect
from tests.servers import ROOT, Server, _wait_until_listening, free_port, raw_request, without_date

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
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
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


def finished_exchange(bus: EventBus, events: list[ev.Event]) -> Exchange:
    """The one exchange, once finished: the server closes the response after the client has
    read it, so the last record may come a moment later."""
    deadline = time.monotonic() + 10
    while True:
        assert bus.flush()
        (exchange,) = fold(events).values()
        if exchange.finished is not None or time.monotonic() > deadline:
            return exchange
        time.sleep(0.01)


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
    exchange = finished_exchange(bus, events)
    assert (exchange.request_body.data, exchange.request_body.complete) == (FORM, True)
    assert exchange.response_body.data == bare[2]
    assert exchange.finished is not None
    assert exchange.finished.outcome == "completed"


@contextlib.contextmanager
def granian(target: str, tmp_path: Path) -> Iterator[Server]:
    """granian in its own process, as `tests.servers.serve` runs the other servers."""
    port = free_port()
    events_path, log_path = tmp_path / f"events-{port}.jsonl", tmp_path / f"server-{port}.log"
    env = {**os.environ, "INSPECTOR_TEST_EVENTS": str(events_path), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--no-ws"]
    command += ["--blocking-threads", "1", "--log-level", "warning", "--port", str(port), target]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    server = Server(port, process, events_path, log_path)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def granians(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    tmp = tmp_path_factory.mktemp("granian")
    with (
        granian("tests.apps.wsgi_results:app", tmp) as bare,
        granian("tests.apps.wsgi_results:wrapped", tmp) as wrapped,
    ):
        yield {"bare": bare, "wrapped": wrapped}


RESULTS = {
    "/list": b"hello list",
    "/empty-list": b"",
    "/tuple": b"a tuple",
    "/generator": b"one two",
}


@pytest.mark.parametrize("path", RESULTS)
def test_granian_gets_the_kind_of_result_the_app_returned(
    granians: dict[str, Server], path: str
) -> None:
    marker = uuid.uuid4().hex[:12]
    raw = f"GET {path}?m={marker} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode()
    bare = raw_request(granians["bare"].port, raw)
    assert without_date(raw_request(granians["wrapped"].port, raw)) == without_date(bare)
    head = bare.partition(b"\r\n\r\n")[0].lower()
    assert (b"content-length:" in head) == path.endswith("list")
    (exchange,) = fold(granians["wrapped"].exchange_events(marker)).values()
    assert exchange.response_body.data == RESULTS[path]
    assert exchange.finished is not None
    assert exchange.finished.outcome == "completed"
