"""HTTP intercept without I/O: what a held request or response is (`Caught`), the subject an
intercept rule is asked about, and the checks an edit passes before it is sent.

A `Connection` catches a request (or response) an armed rule matches on its head, or one whose
rule needs the body (`~b`, `~size`) to decide: nothing of it is forwarded while caught. It
keeps the bytes exactly as read (a forward sends them unchanged) and the decoded body up to the
body limit (what the viewer sees and may edit). An edit is a new head and body: line ends
made CRLF, Content-Length recomputed (chunked framing replaced by it), and the head checked
as the proxy checks any request or response it forwards; a malformed edit raises
`ActionError` with the sentence for the viewer, and the hold stays.
"""

from __future__ import annotations

import re
from typing import Literal

from inspector.heads import FIELD_LINES, REQUEST_LINE, STATUS_LINE, parse_fields
from inspector.matching import And, Body, Not, Or, Rule, Size, Subject, for_request, for_response
from inspector.proxy.holds import ActionError
from inspector.proxy.http1 import MAX_HEAD, ProtocolError, field_values, tokens
from inspector.proxy.request import RequestHead, read_request
from inspector.proxy.state import Flight

What = Literal["request", "response"]


class Caught:
    """A request or response kept back from its peer: matched (`hold` set once recorded) or
    read until its rule can be decided on its body."""

    __slots__ = (
        "ended",
        "flight",
        "head",
        "hold",
        "kept",
        "limit",
        "raw",
        "rule",
        "size",
        "total",
        "what",
    )

    def __init__(
        self, what: What, flight: Flight, head: bytes, rule: Rule | None, limit: int, total: int
    ) -> None:
        """`rule`: None if the head matched already, else the rule to decide once the body is
        in; `total`: the body's whole size if the head says it (-1 if not)."""
        self.what: What = what
        self.flight = flight
        self.head = head  # through the CRLF ending its last field line, as read
        self.rule = rule
        self.limit = limit
        self.raw: list[bytes] = []  # every byte read of it, in order, as read
        self.kept = bytearray()  # the decoded body, up to `limit`
        self.size = 0  # decoded body bytes read
        self.ended = False  # the whole message was read (trailers too: its end was seen)
        self.total = total
        self.hold: int | None = None

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[start : min(end, start + room)]
        self.size += end - start
        if last:
            self.total = self.size

    @property
    def full(self) -> bool:
        """All of it is in, or more of the body than is kept: the viewer may see it now."""
        return self.ended or self.size > self.limit

    @property
    def editable(self) -> str:
        """ "" if the viewer may edit it, else why not."""
        if self.ended and self.size <= self.limit:
            return ""
        return (
            f"this {self.what}'s body is longer than the body limit ({self.limit} bytes): it"
            " can be forwarded or dropped, not edited"
        )


def needs_body(rule: Rule) -> bool:
    """Whether `rule` has a term only the body can decide."""
    if isinstance(rule, (And, Or)):
        return any(needs_body(item) for item in rule.items)
    if isinstance(rule, Not):
        return needs_body(rule.item)
    return isinstance(rule, (Body, Size))


def request_subject(head: bytes, body: bytes, size: int) -> Subject:
    """`head`: a request head as read (checked); `size`: the whole body's, or -1."""
    line = REQUEST_LINE.match(head)
    assert line is not None
    fields = head[line.end() :]
    target = line.group(2)
    host = next((v for n, v in parse_fields(fields) if n.lower() == b"host"), b"")
    if b"://" in target[:10]:  # absolute-form (RFC 9112 §3.2.2): the authority is the host
        rest = target.partition(b"://")[2]
        cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
        host, target = rest[:cut], rest[cut:] or b"/"
    subject = for_request(line.group(1), target, host, fields, body)
    if size >= 0:
        subject.size = size
    return subject


def response_subject(request: Subject, head: bytes, body: bytes, size: int) -> Subject:
    line = STATUS_LINE.match(head)
    assert line is not None
    subject = for_response(request, int(line.group(2)), head[line.end() :], body)
    if size >= 0:
        subject.size = size
    return subject


def edited_request(
    head: bytes, body: bytes, authorities: frozenset[bytes], upstream: str
) -> tuple[bytes, RequestHead]:
    """The wire bytes of an edited request, and what its head says; ActionError if the
    proxy would refuse it from a client."""
    head = _lines(head)
    if REQUEST_LINE.match(head) is None:
        raise ActionError(
            "the edited request must start with a request line: METHOD TARGET HTTP/1.1"
        )
    head = _reframe(head, body, always=False)
    try:
        request = read_request(head, 0, len(head), authorities, upstream)
    except ProtocolError as exc:
        raise ActionError(f"the edited request is refused: {exc}") from None
    return head + b"\r\n" + body, request


def edited_response(head: bytes, body: bytes, bodiless: bool) -> tuple[bytes, bool]:
    """The wire bytes of an edited response, and whether the connection closes after it.
    `bodiless`: it answers HEAD, or its status is 204 or 304 (RFC 9110 §6.4.1)."""
    head = _lines(head)
    line = STATUS_LINE.match(head)
    if line is None:
        raise ActionError("the edited response must start with a status line: HTTP/1.1 200 OK")
    status = int(line.group(2))
    if status < 200:
        raise ActionError("the edited response must be a final one (status 200 to 599)")
    if FIELD_LINES.fullmatch(head, line.end()) is None:
        raise ActionError("the edited response has a malformed header field (name: value)")
    if bodiless or status in (204, 304):
        if body:
            raise ActionError("this response has no body (it answers HEAD, or is 204 or 304)")
    else:
        head = _reframe(head, body, always=True)
    low = head[line.end() - 2 :].lower()
    options = tokens(field_values(low, b"\r\nconnection:"))
    close = b"close" in options or (line.group(1) == b"0" and b"keep-alive" not in options)
    return head + b"\r\n" + body, close


def _lines(head: bytes) -> bytes:
    """A viewer's head with CRLF line ends, through the CRLF ending its last field line."""
    head = re.sub(rb"\r?\n", b"\r\n", head).rstrip(b"\r\n") + b"\r\n"
    if len(head) > MAX_HEAD:
        raise ActionError(f"the edited head is longer than {MAX_HEAD} bytes")
    return head


def _reframe(head: bytes, body: bytes, always: bool) -> bytes:
    """`head` with its Content-Length and Transfer-Encoding fields replaced by the body's
    length (on a request, only where it has a body or said it had one)."""
    first, _, rest = head.partition(b"\r\n")
    kept, framed = [first], False
    for line in rest.split(b"\r\n")[:-1]:
        name = line.partition(b":")[0].strip().lower()
        if name in (b"content-length", b"transfer-encoding"):
            framed = True
        else:
            kept.append(line)
    if always or framed or body:
        kept.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(kept) + b"\r\n"
