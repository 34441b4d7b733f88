"""Edit and replay HTTP: a captured request as an editable `EditedRequest`, as an HTTP message
for a text editor and back, checked with messages that say which line is wrong and why,
then turned into the `ReplayRequest` that `inspector.observe.replay.send` writes.

The text form is an HTTP/1.1 message whose request line holds the absolute URL to send to
(so the target can be edited too), then one header field per line, a blank line and the
body. One newline is written after the body and one taken off when read back (editors end a
file with one). Only what the body needs is changed when sending, and said: a Host added
when none is left, Content-Length set to the body's size, a chunked body framed as one chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from inspector import events as ev
from inspector.observe.exchange import Exchange
from inspector.observe.replay import ReplayRequest, frame_body, replay_url

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 5.6.2


@dataclass(frozen=True, slots=True)
class EditedRequest:
    """What the user wants sent: a method, an absolute http(s) URL, header fields in order,
    a body."""

    method: str
    url: str
    headers: ev.Headers
    body: bytes


def editable(exchange: Exchange, base: str | None = None) -> EditedRequest:
    """The captured request, to start editing from (its URL where a replay would go)."""
    request = exchange.request
    if request is None or exchange.is_websocket:
        raise ValueError("only a captured HTTP request can be edited and sent")
    headers = tuple((n, v) for n, v in request.headers if not n.startswith(b":"))
    url = replay_url(exchange, base)
    return EditedRequest(request.method, url, headers, bytes(exchange.request_body.data))


def header_text(headers: ev.Headers) -> str:
    return "\n".join(f"{n.decode('latin-1')}: {v.decode('latin-1')}" for n, v in headers)


def to_message(edited: EditedRequest) -> bytes:
    """The request as an HTTP message for a text editor."""
    head = f"{edited.method} {edited.url} HTTP/1.1\n"
    fields = header_text(edited.headers)
    return (head + fields + ("\n" if fields else "") + "\n").encode("latin-1") + edited.body + b"\n"


def from_message(data: bytes) -> EditedRequest:
    """Read back what `to_message` wrote, once edited; ValueError says what is wrong."""
    if data.endswith(b"\n"):
        data = data[:-1]
    head, blank, body = data.replace(b"\r\n", b"\n").partition(b"\n\n")
    if not blank:
        head, body = data.replace(b"\r\n", b"\n").rstrip(b"\n"), b""
    lines = head.decode("latin-1").split("\n")
    parts = lines[0].split()
    if len(parts) not in (2, 3):
        raise ValueError(
            f"line 1: {lines[0][:60]!r} is not a request line: write METHOD URL HTTP/1.1"
        )
    return check(parts[0], parts[1], "\n".join(lines[1:]), body, first_line=2)


def check(
    method: str, url: str, headers: str, body: bytes, *, first_line: int = 1
) -> EditedRequest:
    """The fields of the in-viewer editor (or of a message) as an `EditedRequest`; ValueError
    says which is wrong and how to write it."""
    method = method.strip()
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"method: {method!r} is not a method: letters such as GET or POST")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"URL: {url!r} is not an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 (it raises on a port that is no number)
    except ValueError:
        raise ValueError(f"URL: {url!r} has a port that is no number from 0 to 65535") from None
    fields = []
    for n, line in enumerate(headers.split("\n"), first_line):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise ValueError(
                f"headers, line {n}: {line[:60]!r} is not a header field: write Name: value"
            )
        try:
            fields.append((name.encode("latin-1"), value.strip().encode("latin-1")))
        except UnicodeEncodeError:
            raise ValueError(
                f"headers, line {n}: only Latin-1 characters can be sent in a header field"
            ) from None
        if name.lower() == "content-length" and not value.strip().isdigit():
            raise ValueError(f"headers, line {n}: Content-Length must be a number of bytes")
    return EditedRequest(method, url, tuple(fields), body)


def prepare_edited(edited: EditedRequest) -> ReplayRequest:
    """The request to write for an edited one: as edited, framed for its body."""
    url = urlsplit(edited.url)
    assert url.hostname is not None
    secure = url.scheme == "https"
    headers = list(edited.headers)
    names = [name.lower() for name, _ in headers]
    notes: list[str] = []
    if b"host" not in names:  # RFC 9112 3.2: required in HTTP/1.1
        headers.insert(0, (b"host", url.netloc.encode("latin-1")))
        names.insert(0, b"host")
        notes.append("Host was added: HTTP/1.1 requires it.")
    chunked, until_close = frame_body(headers, names, len(edited.body), notes)
    target = (url.path or "/").encode("latin-1") + (
        b"?" + url.query.encode("latin-1") if url.query else b""
    )
    return ReplayRequest(
        scheme=url.scheme,
        host=url.hostname,
        port=url.port or (443 if secure else 80),
        method=edited.method,
        target=target,
        http_version="1.1",
        headers=tuple(headers),
        body=edited.body,
        chunked=chunked,
        until_close=until_close,
        notes=tuple(notes),
    )
