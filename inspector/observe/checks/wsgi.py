"""WSGI rules (PEP 3333): `start_response`, the status line, hop-by-hop headers, `write()`, and
what the server owes the app in `environ`. They apply to exchanges the WSGI middleware
captured; the middleware records each call before the server answers it.
"""

from __future__ import annotations

from collections.abc import Iterator

from inspector import events as ev
from inspector.observe.checks.core import Facts, rule, show

_PEP = "PEP 3333"


def _wsgi(facts: Facts) -> bool:
    return facts.source == "wsgi"


@rule(
    "wsgi.start-response-twice",
    "`start_response` was called again without `exc_info`; only an error handler may do that.",
    f"{_PEP}, The start_response() Callable",
)
def start_response_twice(facts: Facts) -> Iterator[str]:
    if not _wsgi(facts):
        return
    for restart in facts.restarts:
        if not restart.error:
            yield f"a second start_response({restart.status}) without exc_info"


@rule(
    "wsgi.start-missing",
    "The app (and its iterable) finished without calling `start_response`.",
    f"{_PEP}, The start_response() Callable",
)
def start_missing(facts: Facts) -> Iterator[str]:
    if _wsgi(facts) and facts.completed and not facts.starts and not facts.capture_failed:
        yield "no start_response call"


@rule(
    "wsgi.status-format",
    "The status must be a three-digit code, one space and a reason phrase, like `200 OK`.",
    f"{_PEP}, The start_response() Callable",
)
def status_format(facts: Facts) -> Iterator[str]:
    if not _wsgi(facts):
        return
    for head in facts.heads():
        if not 100 <= head.status <= 999 or not head.reason.strip():
            yield f"status {show(f'{head.status} {head.reason}'.strip())}"
    for failure in facts.capture_failed:
        if failure.where == "observer" and failure.error.startswith("WsgiStarted"):
            yield f"start_response's arguments could not be read: {failure.error}"


HOP_BY_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    )
)


@rule(
    "wsgi.hop-by-hop",
    "The app set a hop-by-hop header (Connection, Transfer-Encoding, ...): only the server may.",
    f"{_PEP}, Other HTTP Features",
)
def hop_by_hop(facts: Facts) -> Iterator[str]:
    if not _wsgi(facts):
        return
    for head in facts.heads():
        for name, _ in head.headers:
            if name.lower() in HOP_BY_HOP:
                yield f"header {show(name)}"


@rule(
    "wsgi.write-after-iterable",
    "`write()` was called after the server began iterating the app's result.",
    f"{_PEP}, The write() Callable",
)
def write_after_iterable(facts: Facts) -> Iterator[str]:
    if not _wsgi(facts):
        return
    iterating = False
    for event in facts.events:
        if isinstance(event, ev.ResponseBodyChunk):
            iterating = True
        elif iterating and isinstance(event, ev.ResponseBodyWritten):
            yield f"write() of {event.size} bytes after the iterable had yielded"
            return


@rule(
    "wsgi.body-before-start",
    "The iterable yielded body bytes before `start_response` was called.",
    f"{_PEP}, The start_response() Callable",
)
def body_before_start(facts: Facts) -> Iterator[str]:
    if not _wsgi(facts):
        return
    for event in facts.events:
        if isinstance(event, ev.ResponseStarted):
            return
        if isinstance(event, ev.ResponseBodyChunk) and event.size:
            yield f"{event.size} body bytes before start_response"
            return


ENVIRON = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "wsgi.version",
    "wsgi.url_scheme",
    "wsgi.input",
    "wsgi.errors",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
)


@rule(
    "wsgi.environ-missing",
    "The server's environ lacks a key PEP 3333 requires (REQUEST_METHOD, wsgi.input, ...).",
    f"{_PEP}, environ Variables",
)
def environ_missing(facts: Facts) -> Iterator[str]:
    if not _wsgi(facts) or facts.request is None:
        return
    missing = [key for key in ENVIRON if key not in facts.request.snapshot]
    if missing:
        yield f"missing {', '.join(missing)}"
