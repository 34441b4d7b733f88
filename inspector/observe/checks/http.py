"""HTTP semantics rules (RFC 9110) and HTTP/1.1 framing rules (RFC 9112) over the response an
exchange sent (and, for Host, the request it got), whatever captured it: ASGI and WSGI apps
before their server adds framing, the proxy as the bytes crossed the wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from inspector.observe.checks.core import Facts, rule, show, values

TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
DIGITS = re.compile(rb"[0-9]+")
# RFC 9110 §5.3: only list-based fields may repeat (Set-Cookie is the known exception).
SINGLETONS = (
    b"content-type",
    b"content-length",
    b"location",
    b"etag",
    b"last-modified",
    b"date",
    b"expires",
    b"retry-after",
    b"content-location",
    b"content-range",
    b"age",
)
# RFC 9110 §6.5.1: framing, routing, authentication, controls and content metadata.
_NOT_IN_TRAILERS = frozenset(
    (
        b"transfer-encoding",
        b"content-length",
        b"host",
        b"trailer",
        b"authorization",
        b"set-cookie",
        b"content-type",
        b"content-encoding",
        b"content-range",
        b"cache-control",
        b"expires",
        b"age",
    )
)


def _response(facts: Facts) -> tuple[int, list[tuple[bytes, bytes]]] | None:
    head = facts.response
    if not facts.http or head is None:
        return None
    return head.status, list(head.headers)


def _head_request(facts: Facts) -> bool:
    return facts.request is not None and facts.request.method.upper() == "HEAD"


def _body_rule(status: int) -> None:
    def check(facts: Facts) -> Iterator[str]:
        response = _response(facts)
        if response is not None and response[0] == status and facts.body_size:
            yield f"{facts.body_size} body bytes on a {status}"

    section = {204: "§15.3.5", 304: "§15.4.5"}[status]
    rule(f"http.body-on-{status}", f"A {status} response has no content.", f"RFC 9110 {section}")(
        check
    )


_body_rule(204)
_body_rule(304)


@rule(
    "http.body-on-head",
    "The response to a HEAD request must not carry content (seen on the wire, at the proxy).",
    "RFC 9110 §9.3.2",
)
def body_on_head(facts: Facts) -> Iterator[str]:
    # ASGI and WSGI servers drop what an app sends for HEAD: only the wire can show it.
    if facts.source != "proxy" or not _head_request(facts):
        return
    if _response(facts) is not None and facts.body_size:
        yield f"{facts.body_size} body bytes answering HEAD"


@rule(
    "http.content-length-mismatch",
    "Content-Length disagrees with the body bytes that were sent.",
    "RFC 9110 §8.6",
)
def content_length_mismatch(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is None or not facts.completed or facts.files or _head_request(facts):
        return
    status, headers = response
    declared = values(tuple(headers), b"content-length")
    if status in (204, 304) or len(declared) != 1 or not DIGITS.fullmatch(declared[0].strip()):
        return
    if int(declared[0]) != facts.body_size:
        yield f"Content-Length {int(declared[0])}, {facts.body_size} bytes sent"


@rule(
    "http.content-length-invalid",
    "Content-Length must be digits, and repeated values must agree.",
    "RFC 9110 §8.6",
)
def content_length_invalid(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is None:
        return
    declared = values(tuple(response[1]), b"content-length")
    for value in declared:
        if not DIGITS.fullmatch(value.strip()):
            yield f"Content-Length {show(value)}"
    if len({v.strip() for v in declared}) > 1:
        yield f"{len(declared)} differing Content-Length values"


@rule(
    "http.content-length-forbidden",
    "A 1xx or 204 response must not carry Content-Length.",
    "RFC 9110 §8.6",
)
def content_length_forbidden(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is not None and (response[0] < 200 or response[0] == 204):  # noqa: SIM102
        if values(tuple(response[1]), b"content-length"):
            yield f"Content-Length on a {response[0]}"


@rule(
    "http.content-length-with-te",
    "A message must not carry both Content-Length and Transfer-Encoding.",
    "RFC 9112 §6.2",
)
def content_length_with_te(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is not None:
        headers = tuple(response[1])
        if values(headers, b"content-length") and values(headers, b"transfer-encoding"):
            yield "both Content-Length and Transfer-Encoding"


@rule(
    "http.te-forbidden",
    "A 1xx or 204 response must not carry Transfer-Encoding.",
    "RFC 9112 §6.1",
)
def te_forbidden(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is not None and (response[0] < 200 or response[0] == 204):  # noqa: SIM102
        if values(tuple(response[1]), b"transfer-encoding"):
            yield f"Transfer-Encoding on a {response[0]}"


@rule(
    "http.te-on-http10",
    "Transfer-Encoding was sent to an HTTP/1.0 client, which cannot read it.",
    "RFC 9112 §6.1",
)
def te_on_http10(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is None or facts.request is None or facts.request.http_version != "1.0":
        return
    if values(tuple(response[1]), b"transfer-encoding"):
        yield "Transfer-Encoding in the answer to an HTTP/1.0 request"


@rule(
    "http.content-type-missing",
    "A response with content should say its Content-Type.",
    "RFC 9110 §8.3",
)
def content_type_missing(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is None or response[0] in (204, 304) or _head_request(facts):
        return
    if (facts.body_size or facts.files) and not values(tuple(response[1]), b"content-type"):
        yield f"{facts.body_size} body bytes and no Content-Type"


@rule(
    "http.header-name-invalid",
    "A header name must be a token (letters, digits and !#$%&'*+.^_`|~-).",
    "RFC 9110 §5.1",
)
def header_name_invalid(facts: Facts) -> Iterator[str]:
    for where, headers in facts.response_heads():
        for name, _ in headers:
            if not TOKEN.fullmatch(name):
                yield f"{where} header name {show(name)}"


@rule(
    "http.header-value-invalid",
    "A header value must not hold CR, LF or NUL.",
    "RFC 9110 §5.5",
)
def header_value_invalid(facts: Facts) -> Iterator[str]:
    for where, headers in facts.response_heads():
        for name, value in headers:
            if _BAD_VALUE.search(value):
                yield f"{where} header {show(name)}: {show(value)}"


@rule(
    "http.header-value-whitespace",
    "A header value must not begin or end with whitespace.",
    "RFC 9110 §5.5",
)
def header_value_whitespace(facts: Facts) -> Iterator[str]:
    for where, headers in facts.response_heads():
        for name, value in headers:
            if value != value.strip(b" \t"):
                yield f"{where} header {show(name)}: {show(value)}"


@rule(
    "http.header-duplicate",
    "A field that takes one value (Content-Type, Location, ETag, ...) was sent twice.",
    "RFC 9110 §5.3",
)
def header_duplicate(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is None:
        return
    names = [n.lower() for n, _ in response[1]]
    for name in SINGLETONS:
        if names.count(name) > 1:
            yield f"{names.count(name)} {show(name)} fields"


@rule(
    "http.status-invalid",
    "A status code is three digits from 100 to 599.",
    "RFC 9110 §15",
)
def status_invalid(facts: Facts) -> Iterator[str]:
    statuses = [h.status for h in facts.heads()] + [d.status for d in facts.denials]
    for status in statuses:
        if not 100 <= status <= 599:
            yield f"status {status}"


def _required(status: int, field: bytes, summary: str, section: str) -> None:
    def check(facts: Facts) -> Iterator[str]:
        response = _response(facts)
        if response is not None and response[0] == status:  # noqa: SIM102
            if not values(tuple(response[1]), field):
                yield f"a {status} without {field.decode().title()}"

    name = f"http.{field.decode()}-missing"
    rule(name, summary, f"RFC 9110 {section}")(check)


_required(
    401, b"www-authenticate", "A 401 must say how to authenticate (WWW-Authenticate).", "§15.5.2"
)
_required(405, b"allow", "A 405 must list the methods the resource allows (Allow).", "§15.5.6")
_required(407, b"proxy-authenticate", "A 407 must carry Proxy-Authenticate.", "§15.5.8")
_required(206, b"content-range", "A single-part 206 must carry Content-Range.", "§15.3.7")


@rule(
    "http.location-missing",
    "A redirect (301, 302, 303, 307, 308) should say where to go (Location).",
    "RFC 9110 §15.4",
)
def location_missing(facts: Facts) -> Iterator[str]:
    response = _response(facts)
    if response is not None and response[0] in (301, 302, 303, 307, 308):  # noqa: SIM102
        if not values(tuple(response[1]), b"location"):
            yield f"a {response[0]} without Location"


@rule(
    "http.trailer-forbidden",
    "Framing, routing, authentication and content fields must not be sent as trailers.",
    "RFC 9110 §6.5.1",
)
def trailer_forbidden(facts: Facts) -> Iterator[str]:
    for trailers in facts.trailers:
        for name, _ in trailers.headers:
            if name.lower() in _NOT_IN_TRAILERS:
                yield f"trailer {show(name)}"


@rule(
    "http.host-missing",
    "An HTTP/1.1 request carries exactly one Host header.",
    "RFC 9112 §3.2",
)
def host_missing(facts: Facts) -> Iterator[str]:
    request = facts.request
    if request is None or request.http_version != "1.1" or request.source == "wsgi":
        return  # a WSGI environ folds repeated headers into one value
    hosts = values(request.headers, b"host")
    if len(hosts) != 1:
        yield f"{len(hosts)} Host headers"
