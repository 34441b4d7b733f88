"""ASGI rules: what an app must send, in what order, over `send` (ASGI spec, "HTTP & WebSocket"
and its extensions). They apply to exchanges the ASGI middleware captured; what the app sent
is recorded before the server sees it, so a mistake the server rejects is still here.
"""

from __future__ import annotations

from collections.abc import Iterator

from inspector import events as ev
from inspector.observe.checks.core import Facts, rule, show

_SPEC = "ASGI HTTP & WebSocket spec"


def _asgi(facts: Facts) -> bool:
    return facts.source == "asgi"


@rule(
    "asgi.start-missing",
    "The app returned without sending `http.response.start`; the server answers 500 itself.",
    f"{_SPEC}, Response Start",
)
def start_missing(facts: Facts) -> Iterator[str]:
    if _asgi(facts) and facts.http and facts.completed and not facts.starts:
        yield "the app returned normally but never started a response"


@rule(
    "asgi.start-twice",
    "`http.response.start` was sent more than once; only the first can reach the client.",
    f"{_SPEC}, Response Start",
)
def start_twice(facts: Facts) -> Iterator[str]:
    if _asgi(facts) and len(facts.starts) > 1:
        statuses = ", ".join(str(s.status) for s in facts.starts)
        yield f"{len(facts.starts)} response starts (statuses {statuses})"


@rule(
    "asgi.body-before-start",
    "An `http.response.body` came before `http.response.start`.",
    f"{_SPEC}, Response Body",
)
def body_before_start(facts: Facts) -> Iterator[str]:
    if not _asgi(facts) or not facts.http:
        return
    for event in facts.events:
        if isinstance(event, ev.ResponseStarted):
            return
        if isinstance(event, ev.ResponseBodyChunk):
            yield f"a body message of {event.size} bytes before the response started"
            return


@rule(
    "asgi.body-after-end",
    "Body was sent after a body message with `more_body: False` ended the response.",
    f"{_SPEC}, Response Body",
)
def body_after_end(facts: Facts) -> Iterator[str]:
    if not _asgi(facts):
        return
    ended = False
    for chunk in facts.chunks:
        if ended:
            yield f"a body message of {chunk.size} bytes after the response had ended"
            return
        ended = not chunk.more_body


@rule(
    "asgi.response-unfinished",
    "The app returned while the response still expected body (`more_body: True` last).",
    f"{_SPEC}, Response Body",
)
def response_unfinished(facts: Facts) -> Iterator[str]:
    if not (_asgi(facts) and facts.http and facts.completed and facts.starts):
        return
    last = facts.chunks[-1] if facts.chunks else None
    if facts.files and (last is None or facts.files[-1].at_ns > last.at_ns):
        if facts.files[-1].more_body:
            yield "the last file sent said more_body: True"
        return
    if last is None:
        yield "no http.response.body message was sent"
    elif last.more_body:
        yield "the last http.response.body said more_body: True"


@rule(
    "asgi.send-after-disconnect",
    "The app kept sending after `receive` told it the client had gone (`http.disconnect`).",
    f"{_SPEC}, Disconnect - receive event",
)
def send_after_disconnect(facts: Facts) -> Iterator[str]:
    if not _asgi(facts) or not facts.http:
        return
    gone = False
    for event in facts.events:
        if isinstance(event, ev.ClientDisconnected):
            gone = True
        elif gone and isinstance(event, ev.ResponseStarted | ev.ResponseBodyChunk):
            yield f"{type(event).__name__} after http.disconnect"
            return


@rule(
    "asgi.header-name-case",
    "Header names the app sends must be lower-case bytes.",
    f"{_SPEC}, Response Start (headers)",
)
def header_name_case(facts: Facts) -> Iterator[str]:
    if not _asgi(facts):
        return
    for where, headers in facts.response_heads():
        upper = [n for n, _ in headers if n != n.lower()]
        if upper:
            yield f"{where} header {show(upper[0])} is not lower-case"


@rule(
    "asgi.not-bytes",
    "A field that must be bytes (a body, a header name or value) was something else.",
    f"{_SPEC}, Response Start and Response Body",
)
def not_bytes(facts: Facts) -> Iterator[str]:
    for failure in facts.capture_failed:
        # The observer could not read the message: it names the field and the type it met.
        if failure.where == "observer" and "must be bytes" in failure.error:
            yield failure.error


@rule(
    "asgi.trailers-unannounced",
    "`http.response.trailers` was sent without `trailers: True` in the response start.",
    "ASGI HTTP Trailers extension",
)
def trailers_unannounced(facts: Facts) -> Iterator[str]:
    if _asgi(facts) and facts.trailers and facts.starts and not facts.starts[0].trailers:
        yield "trailers sent, none announced"


@rule(
    "asgi.trailers-missing",
    "`trailers: True` was announced, but no final `http.response.trailers` followed.",
    "ASGI HTTP Trailers extension",
)
def trailers_missing(facts: Facts) -> Iterator[str]:
    if not (_asgi(facts) and facts.completed and facts.starts and facts.starts[0].trailers):
        return
    if not facts.trailers or facts.trailers[-1].more_trailers:
        yield "the response announced trailers and ended without them"


_EXTENSIONS = {
    "pathsend": "http.response.pathsend",
    "zerocopysend": "http.response.zerocopysend",
}


@rule(
    "asgi.extension-unsupported",
    "The app used an extension the server did not list in `scope['extensions']`.",
    "ASGI Extensions",
)
def extension_unsupported(facts: Facts) -> Iterator[str]:
    if not _asgi(facts) or facts.request is None:
        return
    offered = facts.request.snapshot.get("extensions")
    offered = offered if isinstance(offered, dict) else {}
    used = [_EXTENSIONS[f.via] for f in facts.files if f.via in _EXTENSIONS]
    if facts.trailers or any(s.trailers for s in facts.starts):
        used.append("http.response.trailers")
    if facts.denials:
        used.append("websocket.http.response")
    for name in dict.fromkeys(used):
        if name not in offered:
            yield f"{name} used, the server offers {', '.join(offered) or 'no extensions'}"


@rule(
    "asgi.ws-send-before-accept",
    "A `websocket.send` came before `websocket.accept`.",
    f"{_SPEC}, Send - send event (WebSocket)",
)
def ws_send_before_accept(facts: Facts) -> Iterator[str]:
    if not (_asgi(facts) and facts.websocket):
        return
    for event in facts.events:
        if isinstance(event, ev.WebSocketAccepted):
            return
        if isinstance(event, ev.WebSocketMessage) and event.sender == "server":
            yield "the app sent a message before accepting the connection"
            return


@rule(
    "asgi.ws-accept-twice",
    "`websocket.accept` was sent more than once.",
    f"{_SPEC}, Accept - send event",
)
def ws_accept_twice(facts: Facts) -> Iterator[str]:
    if _asgi(facts) and len(facts.accepts) > 1:
        yield f"{len(facts.accepts)} accepts"


@rule(
    "asgi.ws-send-after-close",
    "The app sent after the connection closed (its own `websocket.close`, or the client's).",
    f"{_SPEC}, Close - send event",
)
def ws_send_after_close(facts: Facts) -> Iterator[str]:
    if not (_asgi(facts) and facts.websocket):
        return
    closed: ev.WebSocketClosed | None = None
    for event in facts.events:
        if isinstance(event, ev.WebSocketClosed) and closed is None:
            closed = event
        elif closed is not None and (
            (isinstance(event, ev.WebSocketMessage) and event.sender == "server")
            or isinstance(event, ev.WebSocketAccepted)
        ):
            by = "the app" if closed.sender == "server" else "the client"
            yield f"{type(event).__name__} after {by} closed the connection"
            return


@rule(
    "asgi.ws-accept-before-connect",
    "The app accepted before it had received `websocket.connect`.",
    f"{_SPEC}, Connect - receive event",
)
def ws_accept_before_connect(facts: Facts) -> Iterator[str]:
    if not (_asgi(facts) and facts.websocket):
        return
    for event in facts.events:
        if isinstance(event, ev.WebSocketHandshakeReceived):
            return
        if isinstance(event, ev.WebSocketAccepted):
            yield "websocket.accept sent with websocket.connect never received"
            return


@rule(
    "asgi.ws-denial-after-accept",
    "A denial response (`websocket.http.response.start`) was sent after the app had accepted.",
    "ASGI WebSocket Denial Response extension",
)
def ws_denial_after_accept(facts: Facts) -> Iterator[str]:
    accepts, denials = facts.accepts, facts.denials
    if _asgi(facts) and accepts and denials and denials[0].at_ns >= accepts[0].at_ns:
        yield f"a {facts.denials[0].status} denial after the accept"
