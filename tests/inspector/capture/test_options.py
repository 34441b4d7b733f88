"""`CaptureOptions`: what both middlewares are configured with, read once."""

from __future__ import annotations

import io
from typing import Any

import pytest

from inspector import EventBus, WSGIInspectorMiddleware
from inspector import events as ev
from inspector.capture.options import CaptureOptions
from inspector.records import RecordBuffer
from tests.inspector.capture.conftest import collect
from tests.inspector.test_redact import REDACT_CASES


@pytest.mark.parametrize(("redact", "names"), REDACT_CASES)
def test_redact_takes_every_form(redact: Any, names: frozenset[str]) -> None:
    options = CaptureOptions(bus=RecordBuffer(), redact=redact)
    assert options.redact == (sorted(name.encode() for name in names) or None)


def test_one_header_name_masks_that_header_only(bus: EventBus) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Authorization", "back"), ("X-Other", "kept")])
        return [b""]

    events = collect(bus)
    wrapped = WSGIInspectorMiddleware(app, bus=bus, redact="authorization")
    environ = {"REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(), "HTTP_AUTHORIZATION": "t"}
    list(wrapped(environ, lambda status, headers, exc_info=None: lambda data: None))
    assert bus.flush()
    started = next(e for e in events if isinstance(e, ev.RequestStarted))
    response = next(e for e in events if isinstance(e, ev.ResponseStarted))
    assert (b"authorization", b"[redacted]") in started.headers
    assert response.headers == ((b"Authorization", b"[redacted]"), (b"X-Other", b"kept"))
