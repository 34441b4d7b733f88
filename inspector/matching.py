"""Intercept rules: a small tree the viewer compiles and the relay evaluates.

The viewer turns a `~` filter text into a `Rule` (`inspector.observe.rules.compile_rule`)
and sends it, msgspec-encoded, over the relay's control socket; the relay decodes it and asks
`matches(rule, subject)` of each WebSocket message, request or response it could hold. A
`Subject` is what one of those is, as plain values: the relay builds it from bytes it read
(`for_message`, `for_request`, `for_response`), the viewer from events. This is
core (stdlib and msgspec): the relay never imports the observer's filters. Regexes are
compiled once per pattern, case-insensitive, and searched as bytes where the pattern is ASCII.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import msgspec

from inspector.heads import parse_fields

Part = Literal["request", "response", "any"]


class _Rule(msgspec.Struct, frozen=True, tag=True, tag_field="rule"):
    pass


class And(_Rule, frozen=True):
    items: list[Rule]


class Or(_Rule, frozen=True):
    items: list[Rule]


class Not(_Rule, frozen=True):
    item: Rule


class FromSide(_Rule, frozen=True):
    """`~from client|server`: a message's sender."""

    sender: Literal["client", "server"]


class Kind(_Rule, frozen=True):
    """`~text` / `~binary`."""

    text: bool


class Size(_Rule, frozen=True):
    """`~size OP N`: the payload's size (a message's, or the body's being held)."""

    op: Literal["<", "<=", ">", ">=", "="]
    size: int


class Body(_Rule, frozen=True):
    """`~b`, `~bq`, `~bs`: a regex searched in a payload or body (`part`: whose)."""

    pattern: str
    part: Part = "any"


class Method(_Rule, frozen=True):
    method: str


class Url(_Rule, frozen=True):
    pattern: str


class Header(_Rule, frozen=True):
    """`~h`, `~hq`, `~hs`: a regex searched in field lines `name: value`, one per line."""

    pattern: str
    part: Part = "any"


class ContentType(_Rule, frozen=True):
    pattern: str
    part: Part = "any"


class Status(_Rule, frozen=True):
    """`~c 404` (low 404, high 405) or `~c 4xx` (400, 500)."""

    low: int
    high: int


class Anything(_Rule, frozen=True):
    """The empty rule: everything matches."""


Rule = (
    And
    | Or
    | Not
    | FromSide
    | Kind
    | Size
    | Body
    | Method
    | Url
    | Header
    | ContentType
    | Status
    | Anything
)

encode_rule = msgspec.msgpack.Encoder().encode
decode_rule = msgspec.msgpack.Decoder(Rule).decode


@dataclass(slots=True)
class Subject:
    """What a rule is asked about. For a message: `sender`, `text`, `size`, `body` (its
    payload, unmasked and inflated, as far as known). For a request or response: the request's
    method, URL and field lines, and for a response its status and field lines too; `body` is
    the request's (or the response's) body as held, `request_body` the request's for `~bq` on a
    response."""

    sender: Literal["client", "server"] = "client"
    text: bool | None = None
    size: int = 0
    body: bytes = b""
    method: str = ""
    url: str = ""
    request_fields: str = ""
    response_fields: str | None = None
    status: int | None = None
    request_body: bytes = b""
    message: bool = False


def for_message(
    sender: Literal["client", "server"], text: bool, payload: bytes, size: int
) -> Subject:
    return Subject(sender, text, size, payload, message=True)


def for_request(method: bytes, target: bytes, host: bytes, fields: bytes, body: bytes) -> Subject:
    """`fields`: the head's field lines (CRLF-separated) as read."""
    url = "http://" + host.decode("latin-1") + target.decode("latin-1")
    return Subject(
        "client",
        None,
        len(body),
        body,
        method.decode("latin-1"),
        url,
        _lines(fields),
        None,
        None,
        body,
    )


def for_response(request: Subject, status: int, fields: bytes, body: bytes) -> Subject:
    return Subject(
        "server",
        None,
        len(body),
        body,
        request.method,
        request.url,
        request.request_fields,
        _lines(fields),
        status,
        request.request_body,
    )


def _lines(fields: bytes) -> str:
    return "\n".join((n + b": " + v).decode("latin-1") for n, v in parse_fields(fields))


def matches(rule: Rule, subject: Subject) -> bool:
    """Whether `subject` matches `rule`. A term that does not apply to the subject (a status
    on a request, `~from` on a response) does not match."""
    match rule:
        case And(items=items):
            return all(matches(item, subject) for item in items)
        case Or(items=items):
            return any(matches(item, subject) for item in items)
        case Not(item=item):
            return not matches(item, subject)
        case FromSide(sender=sender):
            return subject.message and subject.sender == sender
        case Kind(text=text):
            return subject.message and subject.text == text
        case Size(op=op, size=size):
            return _COMPARE[op](subject.size, size)
        case Body(pattern=pattern, part=part):
            return _body(pattern, part, subject)
        case Method(method=method):
            return not subject.message and subject.method.upper() == method
        case Url(pattern=pattern):
            return not subject.message and _text(pattern)(subject.url) is not None
        case Header(pattern=pattern, part=part):
            search = _text(pattern, re.MULTILINE)
            if subject.message:
                return False
            if part != "response" and search(subject.request_fields) is not None:
                return True
            fields = subject.response_fields
            return part != "request" and fields is not None and search(fields) is not None
        case ContentType(pattern=pattern, part=part):
            return _content_type(pattern, part, subject)
        case Status(low=low, high=high):
            return subject.status is not None and low <= subject.status < high
        case Anything():
            return True
    return False


def _body(pattern: str, part: Part, subject: Subject) -> bool:
    if subject.message:
        if part != "any" and (part == "request") != (subject.sender == "client"):
            return False
        if subject.text:
            return _text(pattern)(subject.body.decode("utf-8", "replace")) is not None
        return _raw(pattern)(subject.body) is not None
    if subject.response_fields is None:  # a request: only its own body
        return part != "response" and _raw(pattern)(subject.body) is not None
    if part != "response" and _raw(pattern)(subject.request_body) is not None:
        return True
    return part != "request" and _raw(pattern)(subject.body) is not None


def _content_type(pattern: str, part: Part, subject: Subject) -> bool:
    if subject.message:
        return False
    search = _text(pattern)
    lines = [] if part == "response" else [subject.request_fields]
    if part != "request" and subject.response_fields is not None:
        lines.append(subject.response_fields)
    for fields in lines:
        for line in fields.split("\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "content-type" and search(value) is not None:
                return True
    return False


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "=": lambda a, b: a == b,
}


def _never(_: object) -> None:
    return None


@functools.lru_cache(maxsize=256)
def _text(pattern: str, flags: int = 0) -> Callable[[str], object]:
    try:
        with warnings.catch_warnings(action="ignore"):
            return re.compile(pattern, re.IGNORECASE | flags).search
    except (re.error, OverflowError, RecursionError):  # the viewer checked it; never raise
        return _never


@functools.lru_cache(maxsize=256)
def _raw(pattern: str) -> Callable[[bytes], object]:
    try:  # bytes searched as they are: no decoding for ASCII patterns
        with warnings.catch_warnings(action="ignore"):
            return re.compile(pattern.encode("ascii"), re.IGNORECASE).search
    except (UnicodeEncodeError, re.error, OverflowError, RecursionError):
        search = _text(pattern)
        return lambda data: search(data.decode("utf-8", "replace"))
