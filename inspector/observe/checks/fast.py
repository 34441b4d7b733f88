"""The checks' fast path: `quiet(events)` says, in one pass and a few C-level operations, that
no rule can fire on an exchange of the overwhelmingly common shape: one HTTP request, one
response start with a 2xx-5xx status, body chunks after it that end once, one finish, and
headers that break none of the header rules. Anything else (a WebSocket, a restart, trailers,
a file, a disconnect, a capture failure, an event kind it does not know) answers False, and the
rules run one by one. True must imply that `check` finds nothing: each test below names the
rules it stands in for, and `tests/inspector/observe/checks/test_fast.py` compares both over
many generated exchanges.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter

from inspector import events as ev
from inspector.observe.checks.http import DIGITS, SINGLETONS, TOKEN
from inspector.observe.checks.wsgi import ENVIRON, HOP_BY_HOP

# Events no rule reads: they never change a finding.
_IGNORED = frozenset(
    (
        ev.RequestBodyChunk,
        ev.AppFailed,
        ev.IterableClosed,
        ev.RequestForwarded,
        ev.TrafficHeld,
        ev.HoldReleased,
        ev.TrafficEdited,
        ev.EventsDropped,
        ev.PeerConnected,
        ev.PeerDisconnected,
    )
)
# `\n` is no token character, so over names holding none, it splits the same way.
_TOKENS = re.compile(rb"%s(?:\n%s)*" % (TOKEN.pattern, TOKEN.pattern))
_ENVIRON = frozenset(ENVIRON)
# The field each of these statuses must carry (http.*-missing, http.location-missing).
_NEEDS = {
    401: b"www-authenticate",
    405: b"allow",
    407: b"proxy-authenticate",
    206: b"content-range",
    **dict.fromkeys((301, 302, 303, 307, 308), b"location"),
}
_names = itemgetter(0)
_values = itemgetter(1)


def quiet(events: Sequence[ev.Event]) -> bool:
    """True only if no rule can find anything in `events`; False means "run the rules"."""
    request: ev.RequestStarted | None = None
    start: ev.ResponseStarted | None = None
    finished: ev.ExchangeFinished | None = None
    body = 0
    ended = False  # a chunk said more_body: False
    for event in events:
        kind = type(event)
        if kind is ev.ResponseBodyChunk:
            if start is None or ended:  # *.body-before-start, asgi.body-after-end
                return False
            body += event.size  # type: ignore[attr-defined]
            ended = not event.more_body  # type: ignore[attr-defined]
        elif kind is ev.ResponseStarted:
            if start is not None:  # asgi.start-twice
                return False
            start = event  # type: ignore[assignment]
        elif kind is ev.RequestStarted:
            if request is not None:
                return False
            request = event  # type: ignore[assignment]
        elif kind is ev.ExchangeFinished:
            if finished is not None:
                return False
            finished = event  # type: ignore[assignment]
        elif kind not in _IGNORED:
            return False
    if request is None or request.kind != "http":
        return False  # ws.* and asgi.ws-* rules are left to run
    source = request.source
    if source == "wsgi" and not request.snapshot.keys() >= _ENVIRON:  # wsgi.environ-missing
        return False
    if (
        request.http_version == "1.1"
        and source != "wsgi"
        and list(map(bytes.lower, map(_names, request.headers))).count(b"host") != 1
    ):
        return False  # http.host-missing
    completed = finished is not None and finished.outcome == "completed"
    if start is None:
        return not completed  # asgi.start-missing, wsgi.start-missing
    if source == "asgi" and completed and not ended:  # asgi.response-unfinished
        return False
    status = start.status
    if start.trailers or not 200 <= status <= 599:  # asgi.trailers-*, http.status-invalid, 1xx
        return False
    if source == "wsgi" and not start.reason.strip():  # wsgi.status-format
        return False
    head = request.method.upper() == "HEAD"
    if body and (status in (204, 304) or (source == "proxy" and head)):
        return False  # http.body-on-204, -304, -head
    return _head_quiet(request, start, source, body, completed and not head, not head)


def _values_ok(values: bytes) -> bool:
    """Over values joined by `\\n`s, none holding one: no CR or NUL (the rest of http.py's
    `_BAD_VALUE`) and no blank at either edge of a value. Substring tests: a regex is slower."""
    if b"\r" in values or b"\x00" in values or values != values.strip(b" \t"):
        return False
    return not (b"\n " in values or b" \n" in values or b"\n\t" in values or b"\t\n" in values)


def _head_quiet(
    request: ev.RequestStarted,
    start: ev.ResponseStarted,
    source: str,
    body: int,
    sized: bool,
    typed: bool,
) -> bool:
    """The header rules over the one response head (no restarts, trailers, accepts, denials):
    `sized` if Content-Length must match the body (completed, not HEAD), `typed` if a body
    needs a Content-Type (not HEAD).
    Names and values are each joined by `\\n` and read by a few C calls; when no name and no
    value holds a `\\n` (the counts say so), each `\\n` is a boundary and the tests are exact."""
    headers, status = start.headers, start.status
    if not headers:
        # http.*-missing, http.location-missing, http.content-type-missing
        return status not in _NEEDS and not (body and typed)
    count = len(headers) - 1
    names = b"\n".join(map(_names, headers))
    values = b"\n".join(map(_values, headers))
    if names.count(b"\n") != count or values.count(b"\n") != count:
        return False
    if not _TOKENS.fullmatch(names):  # http.header-name-invalid
        return False
    if not _values_ok(values):  # http.header-value-invalid, http.header-value-whitespace
        return False
    lowered = names.lower()
    if source == "asgi" and lowered != names:  # asgi.header-name-case
        return False
    lower = lowered.split(b"\n")
    fields = set(lower)
    if len(fields) <= count and any(lower.count(n) > 1 for n in SINGLETONS):
        return False  # http.header-duplicate; past it each singleton is there at most once
    if source == "wsgi" and not fields.isdisjoint(HOP_BY_HOP):  # wsgi.hop-by-hop
        return False
    need = _NEEDS.get(status)
    if need is not None and need not in fields:  # http.*-missing, http.location-missing
        return False
    has_length = b"content-length" in fields
    if b"transfer-encoding" in fields and (
        has_length or status == 204 or request.http_version == "1.0"
    ):
        return False  # http.content-length-with-te, http.te-forbidden, http.te-on-http10
    if has_length:
        length = headers[lower.index(b"content-length")][1]
        if status == 204 or not DIGITS.fullmatch(length.strip()):
            return False  # http.content-length-forbidden, http.content-length-invalid
        if sized and status != 304 and int(length) != body:  # http.content-length-mismatch
            return False
    # http.content-type-missing (a body here means a status other than 204 and 304)
    return not (body and typed and b"content-type" not in fields)
