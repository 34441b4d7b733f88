"""Tests from traffic: a pytest module that replays captured exchanges and asserts the answers.

`pytest_module` writes one test per exchange: the request as captured (the headers that shape
the answer, the body; JSON and forms as data), then what the app answered: the status, the
headers that matter (Content-Type, Location, Cache-Control, Set-Cookie names; never Date and
the like, which change every run) and the body (JSON compared as data, a long or binary body
by its digest). With an app (`module:attr`), the requests go through it in process (httpx's
`ASGITransport` or `WSGITransport`; Starlette's `TestClient` for WebSockets); without one,
to `BASE_URL`, which an environment variable overrides. Secrets masked by the export or at
capture are left out, with a comment saying so. The text is laid out as `ruff format`
leaves it (`inspector.observe.pysource`). Reads only the exchanges it is given (no I/O).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from inspector.observe import pysource
from inspector.observe.exchange import Body, Exchange, header
from inspector.observe.pytest_parts import AppKind, Module, decoded, request_headers
from inspector.observe.pytest_websocket import websocket_test
from inspector.redact import REDACTED, Redact, redaction_names

INLINE_TEXT = 4096
"""A text or binary body longer than this is asserted by its length and SHA-256: a page of
HTML inline would bury the test."""
INLINE_JSON = 64 * 1024


def pytest_module(
    exchanges: Iterable[Exchange],
    *,
    app: str | None = None,
    kind: AppKind = "asgi",
    redact: Redact = True,
) -> str:
    """The source of a pytest module with a test per exchange that can be replayed, in the
    given order; `app` is `module:attr` (an ASGI or WSGI app, as `kind` says), or None to
    send to a base URL. Exchanges that cannot become a test are named in its docstring. Like
    the other exports, the text has no final newline: the writer adds it."""
    chosen = [x for x in exchanges if x.request is not None]
    module = Module(chosen, app=app, kind=kind if app else None)
    names = redaction_names(redact)
    for x in chosen:
        why_not = _left_out(x, module)
        if why_not is not None:
            module.leave_out(x, why_not)
        elif x.is_websocket:
            module.add(x, websocket_test(x, module, names))
        else:
            module.add(x, _http_test(x, module, names))
    return module.source()


def _left_out(x: Exchange, module: Module) -> str | None:
    if x.is_websocket:
        if module.kind == "wsgi":
            return "WSGI has no WebSockets"
        if x.accepted is None:
            return "the WebSocket was not accepted"
        if x.messages_dropped or x.payloads_not_kept:
            return "some of its messages were not kept"
        return None
    if x.response is None and x.error is None:
        return "it got no answer"
    if x.error is None and x.state != "completed":
        return f"its response was {x.state}, not complete"
    if x.files:
        return "its body was a file sent by the server, which capture does not hold"
    return None


def _http_test(x: Exchange, module: Module, names: frozenset[str]) -> list[str]:
    request = x.request
    assert request is not None
    lines: list[str] = []
    headers, comments = request_headers(request.headers, names, websocket=False)
    lines += [f"    # {c}" for c in comments]
    arguments: list[tuple[str, object]] = [("", request.method), ("", module.target(x))]
    if headers:
        arguments.append(("headers", headers))
    body_argument, note = _request_body(x.request_body, request.headers)
    if note:
        lines.append(f"    # {note}")
    if body_argument is not None:
        arguments.append(body_argument)
    if x.error is not None and x.response is None:
        return lines + _raised(x, module, arguments)
    lines += pysource.call("response = send", arguments)
    lines += _assert_response(x, module)
    return lines


def _raised(x: Exchange, module: Module, arguments: list[tuple[str, object]]) -> list[str]:
    assert x.error is not None
    what = f"{x.error.type}: {x.error.message}".splitlines()[0]
    if module.kind is None:  # over the network, a server answers an app's exception with 500
        lines = [f"    # The app raised {what}; its server answered 500."]
        lines += pysource.call("response = send", arguments)
        return [*lines, "    assert response.status_code == 500"]
    module.imports.add("import pytest")
    found = getattr(builtins, x.error.type, None)
    builtin = isinstance(found, type) and issubclass(found, BaseException)
    lines = [f"    # The app raised {what}."]
    lines.append(f"    with pytest.raises({x.error.type if builtin else 'Exception'}):")
    return lines + pysource.call("send", arguments, indent=2)


def _request_body(
    body: Body, headers: tuple[tuple[bytes, bytes], ...]
) -> tuple[tuple[str, object] | None, str | None]:
    data = bytes(body.data)
    note = None
    if body.truncated:
        note = f"The request body was cut at capture: sending the {len(data):,} of {body.size:,}"
        note += " bytes kept."
    if not data:
        return None, note
    content_type = (header(headers, b"content-type") or "").lower()
    text = _utf8(data)
    if text is not None and not body.truncated:
        if _is_json(content_type):
            try:
                return ("json", json.loads(text)), note
            except ValueError:
                pass
        if content_type.startswith("application/x-www-form-urlencoded"):
            pairs = parse_qsl(text, keep_blank_values=True)
            keys = [k for k, _ in pairs]
            if len(set(keys)) == len(keys) and urlencode(pairs) == text:
                return ("data", dict(pairs)), note
    return ("content", text if text is not None else data), note


def _assert_response(x: Exchange, module: Module) -> list[str]:
    assert x.response is not None
    lines = [f"    assert response.status_code == {x.response.status}"]
    headers = x.response.headers
    for name in ("content-type", "cache-control"):
        value = header(headers, name.encode())
        if value is not None:
            lines += pysource.statement(f'assert response.headers["{name}"] == {{}}', value)
    location = header(headers, b"location")
    if location is not None:
        if module.base and location.startswith(module.base + "/"):
            template = 'assert response.headers["location"] == BASE_URL + {}'
            lines += pysource.statement(template, location[len(module.base) :])
        else:
            lines += pysource.statement('assert response.headers["location"] == {}', location)
    cookies = [v for n, v in headers if n.lower() == b"set-cookie"]
    if any(v == REDACTED.encode() for v in cookies):
        lines.append("    # Set-Cookie left out: it was masked at capture (a secret).")
    elif cookies:
        module.helpers.add("set_cookie_names")
        cookie_names = [v.decode("latin-1").split("=", 1)[0].strip() for v in cookies]
        lines += pysource.statement("assert set_cookie_names(response) == {}", cookie_names)
    return lines + _assert_body(x, module, headers)


def _assert_body(
    x: Exchange, module: Module, headers: tuple[tuple[bytes, bytes], ...]
) -> list[str]:
    assert x.request is not None
    if x.request.method == "HEAD":
        return []
    data, problem = decoded(x.response_body, headers)
    if problem is not None:
        return [f"    # The body is not asserted: {problem}."]
    if x.response_body.truncated:
        lines = [f"    # Capture kept the first {len(data):,} of {x.response_body.size:,} bytes."]
        return lines + pysource.statement("assert response.content.startswith({})", data)
    content_type = (header(headers, b"content-type") or "").lower()
    text = _utf8(data)
    if text is not None and _is_json(content_type) and len(data) <= INLINE_JSON:
        try:
            return pysource.statement("assert response.json() == {}", json.loads(text))
        except ValueError:
            pass
    if len(data) > INLINE_TEXT:
        digest = hashlib.sha256(data).hexdigest()
        module.helpers.add("sha256")
        return [
            f"    assert len(response.content) == {len(data)}",
            *pysource.statement("assert sha256(response.content) == {}", digest),
        ]
    charset = re.search(r"charset\s*=\s*[\"']?([\w.:+-]+)", content_type)
    if text is not None and (charset is None or charset.group(1) in ("utf-8", "utf8")):
        return pysource.statement("assert response.text == {}", text)
    return pysource.statement("assert response.content == {}", data)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip()
    return media == "application/json" or media.endswith("+json")


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


__all__ = ["AppKind", "pytest_module"]
