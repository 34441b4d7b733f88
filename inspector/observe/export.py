"""HAR 1.2 exports of exchanges, for browsers' DevTools and HAR viewers.

`har` turns exchanges into a HAR 1.2 log (http://www.softwareishard.com/blog/har-12-spec/,
"the spec" below); WebSocket messages go into Chrome's `_webSocketMessages` and what HAR has
no field for into a custom `_inspector` object per entry. It reads only the `Exchange` it is
given (no I/O) and can mask secret headers on the way out. Curl commands live in
`inspector.observe.curl` and are re-exported here, so one module serves every export, and
`open_export` opens the file to write one (private, never through a symlink) for the command
line and the viewer alike.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import ipaddress
import json
import math
import os
import re
import stat
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

from inspector.events import Headers
from inspector.observe.checks import findings
from inspector.observe.exchange import Body, Exchange, header
from inspector.observe.private import open_private
from inspector.redact import REDACTED, mask_headers, redaction_names

Redact = bool | Iterable[str]
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:+-]+)", re.IGNORECASE)
_MAX_DECODED = 64 << 20  # a decompression bomb must not take the viewer down
_SURROGATES = re.compile("[\ud800-\udfff]")
_VERSIONS = {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2", "2.0": "HTTP/2", "3": "HTTP/3"}


def har(
    exchanges: Iterable[Exchange], *, redact: Redact = False, creator_version: str | None = None
) -> dict[str, Any]:
    """A HAR 1.2 log of the exchanges that have a request (unfinished ones as far as known)."""
    names = redaction_names(redact)
    started = [x for x in exchanges if x.request is not None]
    # Spec, "entries": sorting by startedDateTime is the preferred way to export.
    started.sort(key=lambda x: _wall_time(x.request.wall_time) if x.request else 0.0)
    version = creator_version if creator_version is not None else package_version()
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "inspector", "version": version},
            "entries": [_entry(x, names) for x in started],
        }
    }


def har_json(
    exchanges: Iterable[Exchange],
    *,
    redact: Redact = False,
    creator_version: str | None = None,
    indent: int | None = 2,
) -> str:
    """The log as JSON text that encodes to UTF-8: lone surrogates (WebSocket text or a body
    in a charset such as unicode_escape can hold them) become U+FFFD, as a browser shows them."""
    log = har(exchanges, redact=redact, creator_version=creator_version)
    text = json.dumps(log, indent=indent, ensure_ascii=False)
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


class ExportError(ValueError):
    """An export file refused: a symbolic link, not a regular file, or another user's."""


def open_export(path: str | Path, *, replace: bool = True) -> BinaryIO:
    """Open `path` to write an export into: created 0600, or (with `replace`; without it, an
    existing file raises FileExistsError) an existing file of ours emptied and made 0600.
    Exports hold whatever secrets were not masked, as sessions do: like `--save`, this never
    writes through a symbolic link (O_NOFOLLOW), nor into a FIFO, a device or another user's
    file, and checks them on the open descriptor, before emptying it. Unlike a session, which
    is appended to, an export replaces the whole file, so a file others could read is made
    private rather than refused."""
    return open(path, "wb", opener=lambda name, _: _open_private(name, replace))


def _open_private(path: str, replace: bool) -> int:
    flags = os.O_WRONLY if replace else os.O_WRONLY | os.O_EXCL
    fd, info = open_private(path, flags, ExportError, "exports are never written")
    try:
        if stat.S_IMODE(info.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def package_version() -> str:
    """The installed package's version (its metadata), or `unknown` when it is not installed."""
    from importlib import metadata  # only here: capture never needs it

    try:
        return metadata.version("inspector")
    except metadata.PackageNotFoundError:
        return "unknown"


def _wall_time(wall_time: float) -> float:
    """The wall time, or 0 (the epoch) if it is unknown: not finite, or outside 1970-9999."""
    if math.isfinite(wall_time) and 0.0 <= wall_time < 253402300799.0:
        return wall_time
    return 0.0


def _entry(x: Exchange, names: frozenset[str]) -> dict[str, Any]:
    request = x.request
    assert request is not None
    wall_time = _wall_time(request.wall_time)
    started = datetime.fromtimestamp(wall_time, UTC)
    send, wait, receive = (round(ns / 1e6, 3) for ns in _durations(x))
    response, notes = _response(x, names, started)
    entry: dict[str, Any] = {
        "startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        # Spec, "entries": time is the sum of all timings that are not -1 (rounded again
        # here only to drop float noise such as 9.876999999999999).
        "time": round(send + wait + receive, 3),
        "request": _request(x, names),
        "response": response,
        "cache": {},
        # Spec, "timings": blocked, dns, connect and ssl are -1 when they do not apply; a
        # middleware never sees them.
        "timings": dict(
            blocked=-1, dns=-1, connect=-1, send=send, wait=wait, receive=receive, ssl=-1
        ),
    }
    if wall_time != request.wall_time:
        # A broken or hostile peer's wall time (NaN, inf, past 9999): the epoch stands in for
        # it. A custom field of the entry, as `_inspector` has a fixed shape (the schema).
        entry["_wallTimeUnknown"] = True
    if request.server is not None and _is_ip(request.server[0]):
        entry["serverIPAddress"] = request.server[0]
    if request.client is not None and request.client[1] is not None:
        entry["connection"] = str(request.client[1])  # spec: "can be the client port number"
    notes = {
        "id": x.id,
        "source": request.source,
        "state": x.state,
        "finished": x.finished is not None,
        "truncated": {"request": x.request_body.truncated, "response": x.response_body.truncated},
        **notes,
    }
    if x.error is not None:
        notes["error"] = {"type": x.error.type, "message": x.error.message}
    if x.is_websocket:
        entry["_resourceType"] = "websocket"
        entry["_webSocketMessages"] = _messages(x, wall_time)
        notes["truncated"]["messages"] = sum(
            len(m.text.encode("utf-8", "surrogatepass")) < m.size
            if m.text is not None
            else len(m.data or b"") < m.size
            for m in x.messages
        )
        notes["messagesDropped"] = x.messages_dropped
        notes["payloadsNotKept"] = x.payloads_not_kept
        notes["payloadBytesNotKept"] = x.payload_bytes_not_kept
        if x.closed is not None:
            notes["closed"] = {"code": x.closed.code, "reason": x.closed.reason}
    found = findings(x)
    if found:  # the spec checks' findings (inspector.observe.checks), only when there are some
        notes["checks"] = [
            {"rule": f.rule.name, "detail": f.detail, "reference": f.rule.reference} for f in found
        ]
    entry["_inspector"] = notes
    return entry


def _request(x: Exchange, names: frozenset[str]) -> dict[str, Any]:
    request = x.request
    assert request is not None
    query = request.query.decode("utf-8", "replace")
    har_request: dict[str, Any] = {
        "method": request.method,
        "url": x.url,
        "httpVersion": _VERSIONS.get(request.http_version, f"HTTP/{request.http_version}"),
        "cookies": _request_cookies(request.headers, names),
        "headers": _header_list(mask_headers(request.headers, names)),
        "queryString": [
            {"name": n, "value": v} for n, v in parse_qsl(query, keep_blank_values=True)
        ],
        "headersSize": -1,  # spec: -1 if the info is not available
        "bodySize": x.request_body.size,
    }
    post = _post_data(x.request_body, request.headers)
    if post is not None:
        har_request["postData"] = post
    return har_request


def _response(
    x: Exchange, names: frozenset[str], started: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The HAR response, and notes for `_inspector` about what HAR could not say."""
    assert x.request is not None
    status, reason, headers = _response_parts(x)
    content, notes = _content(x.response_body, headers)
    answered = x.response is not None or x.accepted is not None or x.denied is not None
    http_version = _VERSIONS.get(x.request.http_version, f"HTTP/{x.request.http_version}")
    response = {
        "status": status,
        "statusText": reason,
        "httpVersion": http_version if answered else "",
        "cookies": _response_cookies(headers, names, started),
        "headers": _header_list(mask_headers(headers, names)),
        "content": content,
        "redirectURL": header(headers, b"location") or "",
        "headersSize": -1,
        "bodySize": x.response_body.size if answered else -1,
    }
    return response, notes


def _durations(x: Exchange) -> tuple[int, int, int]:
    """Send, wait and receive in ns: non-negative, in order, summing to the total."""
    request = x.request
    assert request is not None
    if x.finished is not None:
        total, sent, first = x.finished.total_ns, x.finished.request_ns, x.finished.first_byte_ns
    else:  # unfinished: as far as the kept events tell
        total = max((e.at_ns for e in x.events), default=request.at_ns) - request.at_ns
        head = x.response or x.accepted or x.denied
        sent, first = None, None if head is None else head.at_ns - request.at_ns
    total = max(total, 0)
    sent = min(max(sent or 0, 0), total)
    first = total if first is None else min(max(first, sent), total)
    return sent, first - sent, total - first


def _response_parts(x: Exchange) -> tuple[int, str, Headers]:
    if x.denied is not None:
        status, reason, headers = x.denied.status, "", x.denied.headers
    elif x.is_websocket and x.accepted is not None:
        status, reason, headers = 101, "", x.accepted.headers
    elif x.response is not None:
        status, reason, headers = x.response.status, x.response.reason, x.response.headers
    else:  # no response (yet): status 0, as browsers export a failed request
        status, reason, headers = x.status or 0, "", ()
    if not reason and status:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return status, reason, headers


def _header_list(headers: Headers) -> list[dict[str, str]]:
    return [{"name": n.decode("latin-1"), "value": v.decode("latin-1")} for n, v in headers]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _request_cookies(headers: Headers, names: frozenset[str]) -> list[dict[str, Any]]:
    masked = "cookie" in names
    cookies = []
    for n, v in headers:
        if n.lower() == b"cookie":
            for pair in v.decode("latin-1").split(";"):
                name, _, value = pair.strip().partition("=")
                if name or value:
                    cookies.append({"name": name, "value": REDACTED if masked else value})
    return cookies


def _response_cookies(
    headers: Headers, names: frozenset[str], started: datetime
) -> list[dict[str, Any]]:
    masked = "set-cookie" in names
    cookies = []
    for n, v in headers:
        if n.lower() != b"set-cookie":
            continue
        first, *attributes = v.decode("latin-1").split(";")
        name, _, value = first.partition("=")
        cookie: dict[str, Any] = {"name": name.strip(), "value": REDACTED if masked else value}
        max_age: str | None = None
        for attribute in attributes:
            key, _, arg = attribute.strip().partition("=")
            key = key.lower()
            if key in ("path", "domain"):
                cookie[key] = arg
            elif key in ("httponly", "secure"):
                cookie["httpOnly" if key == "httponly" else "secure"] = True
            elif key == "expires" and "expires" not in cookie:
                with contextlib.suppress(TypeError, ValueError, OverflowError):
                    expires = parsedate_to_datetime(arg)
                    cookie["expires"] = expires.replace(tzinfo=expires.tzinfo or UTC).isoformat()
            elif key == "max-age" and _DELTA_SECONDS.fullmatch(arg):
                max_age = arg
        if max_age is not None:  # RFC 6265 5.3, step 3: Max-Age wins over Expires
            cookie["expires"] = _expires(started, max_age).isoformat()
        cookies.append(cookie)
    return cookies


# RFC 6265 5.2.2: an optional "-" and DIGITs (ASCII only: "²".isdigit() is true).
_DELTA_SECONDS = re.compile(r"-?[0-9]+")


def _expires(started: datetime, max_age: str) -> datetime:
    """RFC 6265 5.2.2: Max-Age <= 0 means the earliest representable time; past what
    `datetime` holds, the latest (a Max-Age of 10**17 seconds is "never")."""
    seconds = int(max_age) if len(max_age) < 16 else int(max_age[0] + "9" * 16)
    if seconds <= 0:
        return datetime.min.replace(tzinfo=UTC)
    try:
        return started + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


_UTF8 = codecs.lookup("utf-8")


def _text(data: bytes, content_type: str | None, partial: bool) -> str | None:
    """The body as text in its declared charset (UTF-8 if none), or None if it is not text.

    A captured prefix may end inside a multi-byte character: that tail is left out. Only a
    text encoding counts as a charset: `charset=base64` (or hex, rot13, zlib) names a Python
    codec from bytes to bytes or str to str, which would fail or garble; UTF-8 stands in.
    """
    match = _CHARSET.search(content_type or "")
    codec = _UTF8
    if match:
        with contextlib.suppress(LookupError):
            named = codecs.lookup(match.group(1))
            if named._is_text_encoding:
                codec = named
    try:
        return codec.incrementaldecoder().decode(data, final=not partial)
    except (UnicodeError, LookupError, ValueError, TypeError):
        return None


def _post_data(body: Body, headers: Headers) -> dict[str, Any] | None:
    if body.size == 0 and not body.data:
        return None
    content_type = header(headers, b"content-type")
    post: dict[str, Any] = {"mimeType": content_type or ""}
    data = bytes(body.data)
    text = _text(data, content_type, body.truncated)
    if text is None:
        # The spec gives postData no encoding field: a custom one says the text is base64.
        post["text"], post["_encoding"] = base64.b64encode(data).decode("ascii"), "base64"
        return post
    post["text"] = text
    # The spec calls params and text "mutually exclusive", yet lists neither as optional;
    # Chrome and Firefox write both for forms, and importers read text. So do we.
    if (content_type or "").lower().startswith("application/x-www-form-urlencoded"):
        post["params"] = [
            {"name": n, "value": v} for n, v in parse_qsl(text, keep_blank_values=True)
        ]
    return post


def _content(body: Body, headers: Headers) -> tuple[dict[str, Any], dict[str, Any]]:
    """The response's HAR `content`, and notes for `_inspector`."""
    content_type = header(headers, b"content-type")
    content: dict[str, Any] = {"size": body.size, "mimeType": content_type or "x-unknown"}
    notes: dict[str, Any] = {}
    data = bytes(body.data)
    coding = (header(headers, b"content-encoding") or "").strip().lower()
    if coding in ("", "identity"):
        pass
    elif (decoded := _decompress(data, coding)) is not None:
        # Spec, "content": text is HTTP-decoded; size is the decoded length and compression
        # the number of bytes saved. A truncated body decodes to a prefix of unknown length.
        data = decoded
        content["size"] = len(data)
        if not body.truncated:
            content["compression"] = len(data) - body.size
    else:
        notes["contentEncoding"] = coding  # text holds the bytes as sent, still encoded
    if data or body.size:
        text = _text(data, content_type, body.truncated)
        if text is None:
            content["text"], content["encoding"] = base64.b64encode(data).decode("ascii"), "base64"
        else:
            content["text"] = text
    return content, notes


def _decompress(data: bytes, coding: str) -> bytes | None:
    """gzip or deflate bodies decoded (a prefix stays a prefix); None if that cannot be done."""
    if coding in ("gzip", "x-gzip"):
        attempts = [zlib.MAX_WBITS | 16]
    elif coding == "deflate":  # RFC 9110 8.4.1.2: zlib format, but raw deflate is common
        attempts = [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    else:
        return None
    for wbits in attempts:
        decompressor = zlib.decompressobj(wbits)
        try:
            out = decompressor.decompress(data, _MAX_DECODED)
        except zlib.error:
            continue
        if not decompressor.unconsumed_tail:
            return out
    return None


def _messages(x: Exchange, wall_time: float) -> list[dict[str, Any]]:
    """Messages as Chrome's HAR writes them: time in epoch seconds, opcode 1 text, 2 binary."""
    request = x.request
    assert request is not None
    return [
        {
            "type": "send" if m.sender == "client" else "receive",
            "time": wall_time + (m.at_ns - request.at_ns) / 1e9,
            "opcode": 1 if m.text is not None else 2,
            "data": m.text
            if m.text is not None
            else base64.b64encode(m.data or b"").decode("ascii"),
        }
        for m in x.messages
    ]


from inspector.observe.curl import curl, curl_all  # noqa: E402  (re-exported: one module for exports)

__all__ = ["ExportError", "Redact", "curl", "curl_all", "har", "har_json", "open_export"]
