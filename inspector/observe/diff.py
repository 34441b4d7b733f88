"""The difference between two vantage points of one request: the proxy's and the app's.

`diff(pair)` compares, with no I/O, what crossed the proxy with what the app received and
sent: the request line's HTTP version, each header (by name, case-insensitively: added,
removed, changed, repeated, moved), the framing (chunked or Content-Length), the body bytes,
and the time split (before the app, in the app, after the app). Header names are compared in
lower case because servers lower-case them on the way in (ASGI requires it), so a change of
case alone is no difference. The `X-Forwarded-*`,
`Forwarded` and `Via` headers, and `Host`, are flagged: they are what proxies and servers
rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inspector.events import Headers
from inspector.observe.exchange import Body
from inspector.observe.pairing import Pair

Change = Literal["same", "added", "removed", "changed", "moved"]
PROXY_HEADERS = frozenset(
    {b"host", b"forwarded", b"via", b"x-real-ip"}
    | {b"x-forwarded-" + s for s in (b"for", b"proto", b"host", b"port", b"prefix")}
)


@dataclass(frozen=True, slots=True)
class HeaderDiff:
    name: str
    """Lower case."""
    proxy: tuple[str, ...]
    """The values as they crossed the proxy, in order (several: a repeated field)."""
    app: tuple[str, ...]
    change: Change
    proxy_header: bool
    """Host, Forwarded, Via or X-Forwarded-*: what proxies and servers set."""


@dataclass(frozen=True, slots=True)
class Line:
    """One compared fact: what the proxy saw, what the app saw, and whether they agree."""

    what: str
    proxy: str
    app: str

    @property
    def same(self) -> bool:
        return self.proxy == self.app


@dataclass(frozen=True, slots=True)
class Split:
    """Nanoseconds: from the proxy's request head to the app's start, the app's own time, and
    from the app's end to the proxy's; None where one side is still running."""

    before: int | None
    app: int | None
    after: int | None
    total: int | None
    capture: int | None


@dataclass(frozen=True, slots=True)
class Diff:
    how: str
    request_headers: tuple[HeaderDiff, ...]
    response_headers: tuple[HeaderDiff, ...]
    facts: tuple[Line, ...]
    split: Split

    @property
    def differences(self) -> int:
        heads = (*self.request_headers, *self.response_headers)
        return sum(h.change != "same" for h in heads) + sum(not f.same for f in self.facts)


def _grouped(headers: Headers) -> dict[bytes, list[str]]:
    grouped: dict[bytes, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(value.decode("latin-1"))
    return grouped


def header_diff(proxy: Headers, app: Headers) -> tuple[HeaderDiff, ...]:
    """Every header name of either side, in the proxy's order then the app's new ones."""
    left, right = _grouped(proxy), _grouped(app)
    order_left = list(left)
    order_right = [name for name in right if name in left]
    common = [name for name in order_left if name in right]
    moved = {a for a, b in zip(common, order_right, strict=False) if a != b}
    rows: list[HeaderDiff] = []
    for name in [*order_left, *(n for n in right if n not in left)]:
        p, a = tuple(left.get(name, ())), tuple(right.get(name, ()))
        change: Change
        if not a:
            change = "removed"
        elif not p:
            change = "added"
        elif p != a:
            change = "changed"
        elif name in moved:
            change = "moved"
        else:
            change = "same"
        text = name.decode("latin-1")
        rows.append(HeaderDiff(text, p, a, change, name in PROXY_HEADERS))
    return tuple(rows)


def framing(headers: Headers, app: bool = False) -> str:
    """How a message's body is delimited, as its headers say (RFC 9112 §6); `app`: headers
    an app gave, where neither means the server chose."""
    names = _grouped(headers)
    if "chunked" in ",".join(names.get(b"transfer-encoding", [])).lower():
        return "chunked"
    if b"content-length" in names:
        return "Content-Length " + names[b"content-length"][0].strip()
    return "none set: the server chose" if app else "neither (no body, or until close)"


def _body(body: Body) -> str:
    kept = " (prefix kept)" if body.truncated else ""
    return f"{body.size:,} bytes{kept}"


def _same_bytes(proxy: Body, app: Body) -> str:
    if proxy.size != app.size:
        return "different sizes"
    n = min(len(proxy.data), len(app.data))
    return "identical" if proxy.data[:n] == app.data[:n] else "different bytes"


def time_split(pair: Pair) -> Split:
    proxy, app = pair.proxy, pair.app
    capture = app.finished.capture_ns if app.finished is not None else None
    if proxy.request is None or app.request is None:
        return Split(None, None, None, None, capture)
    before = round((app.request.wall_time - proxy.request.wall_time) * 1e9)
    mono = app.request.at_ns - proxy.request.at_ns
    if abs(mono - before) < 10_000_000:  # one host's monotonic clock: exact to the ns
        before = mono
    in_app = app.finished.total_ns if app.finished is not None else None
    total = proxy.finished.total_ns if proxy.finished is not None else None
    after = None
    if in_app is not None and total is not None:
        after = total - before - in_app
    return Split(before, in_app, after, total, capture)


def diff(pair: Pair) -> Diff:
    proxy, app = pair.proxy, pair.app
    preq, areq = proxy.request, app.request
    assert preq is not None
    assert areq is not None
    presp, aresp = proxy.response, app.response
    facts = [
        Line("HTTP version", preq.http_version, areq.http_version),
        Line("method", preq.method, areq.method),
        Line("path", preq.path, areq.path),
        Line("query", preq.query.decode("latin-1"), areq.query.decode("latin-1")),
        Line("client", _address(preq.client), _address(areq.client)),
        Line("request framing", framing(preq.headers), framing(areq.headers)),
        Line("request body", _body(proxy.request_body), _body(app.request_body)),
    ]
    if proxy.request_body.size or app.request_body.size:
        same = _same_bytes(proxy.request_body, app.request_body)
        facts.append(Line("request bytes", same, "identical"))
    if presp is not None and aresp is not None:
        facts.append(Line("status", str(presp.status), str(aresp.status)))
        facts.append(Line("response framing", framing(presp.headers), framing(aresp.headers, True)))
    facts.append(Line("response body", _body(proxy.response_body), _body(app.response_body)))
    if proxy.response_body.size or app.response_body.size:
        same = _same_bytes(proxy.response_body, app.response_body)
        facts.append(Line("response bytes", same, "identical"))
    return Diff(
        pair.label,
        header_diff(preq.headers, areq.headers),
        header_diff(presp.headers if presp else (), aresp.headers if aresp else ()),
        tuple(facts),
        time_split(pair),
    )


def _address(address: tuple[str, int | None] | None) -> str:
    return "-" if address is None else f"{address[0]}:{address[1]}"
