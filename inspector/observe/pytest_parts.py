"""The parts of a generated pytest module around its tests: the docstring, the imports, the
base URL, the helpers (`send`, `connect`, ...) and the tests' names, plus what HTTP and
WebSocket tests share: which request headers to send again and how a body is decoded.

`Module` collects the tests and the exchanges left out, and writes the whole text in the
layout `ruff format` gives it. The helpers are the one place that knows how a request
reaches the app: in process through httpx's transports (Starlette's `TestClient` for
WebSockets), or over the network to `BASE_URL`.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlsplit

from inspector.events import Headers
from inspector.observe import pysource
from inspector.observe.exchange import Body, Exchange
from inspector.redact import REDACTED

AppKind = Literal["asgi", "wsgi"]
BASE_URL_VARIABLE = "INSPECTOR_BASE_URL"
"""The environment variable that points the generated tests (without an app) elsewhere."""

# Headers the client library writes itself, hop-by-hop ones (RFC 9110 7.6.1) and those that
# name the client rather than the request: sending them again says nothing about the app.
_NOT_SENT = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te"}
    | {"upgrade", "proxy-connection", "expect", "user-agent", "accept-encoding"}
)
# The handshake's own fields: the WebSocket client makes new ones.
_HANDSHAKE = frozenset(
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
    | {"sec-websocket-protocol"}
)

_SEND = {
    "asgi": '''
def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a request to the app in process: no server, no network."""

    async def request() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(request())
''',
    "wsgi": '''
def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a request to the app in process: no server, no network."""
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:
        return client.request(method, url, **kwargs)
''',
    "network": '''
def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send a request to the app at BASE_URL."""
    with httpx.Client(base_url=BASE_URL, timeout=30) as client:
        return client.request(method, url, **kwargs)
''',
}
_CONNECT = {
    "asgi": '''
def connect(url: str, **kwargs: Any) -> WebSocketTestSession:
    """Open a WebSocket to the app in process (httpx has no WebSocket transport)."""
    return TestClient(app, base_url=BASE_URL).websocket_connect(url, **kwargs)
''',
    "network": '''
def connect(url: str, **kwargs: Any) -> ClientConnection:
    """Open a WebSocket to the app at BASE_URL (ws:// for http://, wss:// for https://)."""
    return websockets.sync.client.connect("ws" + BASE_URL[4:] + url, **kwargs)
''',
}
_HELPERS = {
    "set_cookie_names": '''
def set_cookie_names(response: httpx.Response) -> list[str]:
    """The names of the cookies a response sets, in order: their values change every run."""
    return [c.split("=", 1)[0].strip() for c in response.headers.get_list("set-cookie")]
''',
    "sha256": '''
def sha256(data: bytes) -> str:
    """A long or binary body's digest: the test stays readable."""
    return hashlib.sha256(data).hexdigest()
''',
}


class Module:
    """A generated test module being written: its tests, in order, and what was left out."""

    def __init__(self, exchanges: list[Exchange], *, app: str | None, kind: AppKind | None):
        self.app = app
        self.kind = kind
        self.base = base_url(exchanges)
        self.imports: set[str] = set()
        self.helpers: set[str] = set()
        self.tests: list[tuple[str, list[str]]] = []
        self.left_out: list[str] = []
        self._names: Counter[str] = Counter()

    def target(self, x: Exchange) -> str:
        """What to request: the path and query on BASE_URL, or the whole URL elsewhere."""
        url = x.url
        parts = urlsplit(url)
        if _origin(url) == self.base:
            return url[len(parts.scheme) + 3 + len(parts.netloc) :] or "/"
        return url

    def add(self, x: Exchange, lines: list[str]) -> None:
        name = test_name(x, self.kind is not None)
        self._names[name] += 1
        if self._names[name] > 1:
            name = f"{name}_{self._names[name]}"
        self.tests.append((name, lines))

    def leave_out(self, x: Exchange, why: str) -> None:
        request = x.request
        assert request is not None
        method = "WebSocket" if x.is_websocket else request.method
        self.left_out.append(f"{method} {self.target(x)}: {why}")

    def source(self) -> str:
        websocket = "connect" in self.helpers
        http = any("send(" in line for _, lines in self.tests for line in lines)
        parts = [self._imports(http, websocket), self._constant()]
        if http:
            parts.append(_SEND[self.kind or "network"].strip())
        if websocket:
            parts.append(_CONNECT[self.kind or "network"].strip())
        parts += [_HELPERS[name].strip() for name in sorted(self.helpers - {"connect"})]
        for name, lines in self.tests:
            parts.append("\n".join([f"def {name}() -> None:", *lines]))
        return self._docstring() + "\n\n" + "\n\n\n".join(parts)

    def _docstring(self) -> str:
        count = len(self.tests)
        through = {
            "asgi": "through the app in process (httpx's ASGITransport; Starlette's TestClient "
            "for WebSockets)",
            "wsgi": "through the app in process (httpx's WSGITransport)",
            None: "to the app at BASE_URL",
        }[self.kind]
        lines = [
            f'"""Tests from traffic: {count} exchange{"s" * (count != 1)} captured by '
            "inspector, replayed.",
            "",
            f"Written by `inspector export --pytest`. Each test sends a captured request again, "
            f"{through}, and asserts what the app answered then: the status, the headers that "
            "matter (Content-Type, Location, Cache-Control, Set-Cookie names) and the body. "
            "Values that change from run to run (times, ids) need editing out.",
        ]
        lines[2:] = _wrap(lines[2])
        if self.left_out:
            lines += ["", "Left out:"] + [f"- {why}" for why in self.left_out]
        return "\n".join(lines) + '\n"""'

    def _imports(self, http: bool, websocket: bool) -> str:
        stdlib = {"from typing import Any"}
        third = {"import httpx"} if http or "set_cookie_names" in self.helpers else set()
        if "sha256" in self.helpers:
            stdlib.add("import hashlib")
        if http and self.kind == "asgi":
            stdlib.add("import asyncio")
        if self.kind is None:
            stdlib.add("import os")
        if websocket and self.kind == "asgi":
            third.add("from starlette.testclient import TestClient, WebSocketTestSession")
        elif websocket:
            third |= {"import websockets.sync.client"}
            third.add("from websockets.sync.client import ClientConnection")
        for line in self.imports:
            (stdlib if line == "import json" else third).add(line)
        groups = [sorted(stdlib, key=_import_order), sorted(third, key=_import_order)]
        if self.app:
            groups.append([_app_import(self.app)])
        return "\n\n".join("\n".join(g) for g in groups if g)

    def _constant(self) -> str:
        base = self.base or "http://127.0.0.1:8000"
        if self.kind is not None:
            return (
                "# The captured requests' origin: the Host the app sees, though nothing leaves "
                "the\n# process.\n" + f"BASE_URL = {pysource.string(base)}"
            )
        return (
            f"# Where the app listens: where the traffic went, unless {BASE_URL_VARIABLE} says.\n"
            f"BASE_URL = os.environ.get({pysource.string(BASE_URL_VARIABLE)}, "
            f"{pysource.string(base)})"
        )


def _wrap(text: str, width: int = 88) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _import_order(line: str) -> tuple[int, str]:
    """isort's order in a section: `import x` lines first, then `from x import y`."""
    return (line.startswith("from "), line.split()[1])


def _app_import(app: str) -> str:
    module, _, attr = app.partition(":")
    first, _, rest = attr.partition(".")
    if not rest:
        return f"from {module} import {first}" + (" as app" if first != "app" else "")
    return f"from {module} import {first}\n\napp = {attr}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def base_url(exchanges: Iterable[Exchange]) -> str:
    """The origin most of the exchanges went to ("" for none)."""
    counted = Counter(_origin(x.url) for x in exchanges)
    return counted.most_common(1)[0][0] if counted else ""


def test_name(x: Exchange, in_process: bool) -> str:
    """`test_get_api_items_200`: the method, the path in words, and the status (or `raises`
    when the app raised, in process)."""
    request = x.request
    assert request is not None
    ascii_path = unicodedata.normalize("NFKD", request.path).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_path.lower()).strip("_")[:60].rstrip("_") or "root"
    if x.is_websocket:
        return f"test_websocket_{slug}"
    outcome = str(x.response.status) if x.response is not None else "500"
    if x.response is None and in_process:
        outcome = "raises"
    method = re.sub(r"[^a-z0-9]+", "_", request.method.lower()).strip("_") or "request"
    return f"test_{method}_{slug}_{outcome}"


def request_headers(
    headers: Headers, secrets: frozenset[str], *, websocket: bool
) -> tuple[dict[str, str] | list[tuple[str, str]], list[str]]:
    """The captured request headers to send again (a dict, or pairs when a name repeats), and
    comments for the secrets left out."""
    kept: list[tuple[str, str]] = []
    comments = []
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        lower = name.lower()
        if lower.startswith(":") or lower in _NOT_SENT or (websocket and lower in _HANDSHAKE):
            continue
        if value == REDACTED:
            comments.append(f"Header {name} left out: it was masked at capture (a secret).")
        elif lower in secrets:
            comments.append(f"Header {name} left out: a secret, masked by the export.")
        else:
            kept.append((name, value))
    lowered = [n.lower() for n, _ in kept]
    if len(set(lowered)) < len(lowered):
        return kept, comments
    return dict(kept), comments


def decoded(body: Body, headers: Headers) -> tuple[bytes, str | None]:
    """The body as the client library hands it over (gzip and deflate undone), or why not."""
    data = bytes(body.data)
    codings = [
        c.strip().lower()
        for n, v in headers
        if n.lower() == b"content-encoding"
        for c in v.decode("latin-1").split(",")
        if c.strip()
    ]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            return data, f"it is {coding}-encoded"
        wbits = zlib.MAX_WBITS | 16 if coding != "deflate" else zlib.MAX_WBITS
        try:
            data = zlib.decompressobj(wbits).decompress(data)
        except zlib.error:
            return data, f"its {coding} encoding could not be undone"
    return data, None
