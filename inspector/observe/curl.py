"""Curl commands that replay captured requests, one copy-pasteable shell command each.

Headers go out in order with duplicates, bodies byte for byte (with `$'...'` or a `printf`
pipe where a shell argument cannot hold them), and secret headers can be masked. Reads only
the `Exchange` it is given (no I/O).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from urllib.parse import urlsplit

from inspector.observe.exchange import Exchange, header
from inspector.redact import mask_headers, redaction_names

Redact = bool | Iterable[str]


# Headers curl writes itself from its arguments, and hop-by-hop ones (RFC 9110 7.6.1) that
# describe the original connection, not the request.
_CURL_SKIPS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection"}
    | {"te", "upgrade", "expect"}
)
_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,.:;/=_+-")
_CURL_VERSIONS = {"1.0": "--http1.0", "2": "--http2", "2.0": "--http2", "3": "--http3"}


def curl(exchange: Exchange, *, redact: Redact = False) -> str:
    """A shell command (bash, zsh) that sends the exchange's request again with curl.

    Headers come in their order with duplicates, except those curl sets itself. A WebSocket
    exchange gives its handshake as an HTTP request. A body cut by capture gives a warning
    comment line first.
    """
    request = exchange.request
    if request is None:
        raise ValueError(f"exchange {exchange.id} has no request")
    headers = mask_headers(request.headers, redaction_names(redact))
    url = exchange.url
    if exchange.is_websocket:
        url = "http" + url[2:]  # ws:// -> http://, wss:// -> https://
    body = exchange.request_body
    has_body = body.size > 0 or header(headers, b"content-length") is not None
    args: list[str | bytes] = ["curl"]
    if request.http_version in _CURL_VERSIONS:
        args.append(_CURL_VERSIONS[request.http_version])
    if request.method == "HEAD" and not has_body:
        args.append("--head")  # curl -X HEAD would wait for a body that never comes
    elif request.method != ("POST" if has_body else "GET"):
        args += ["-X", request.method]
    if re.search(r"[\[\]{}]", url):
        args.append("--globoff")  # curl reads [] and {} in URLs as globs
    args.append(url.encode("latin-1"))  # the URL's bytes as they came
    authority = urlsplit(url).netloc
    for n, v in headers:
        lower = n.decode("latin-1").lower()
        if lower.startswith(":") or (lower == "host" and v.decode("latin-1") == authority):
            continue
        if lower in _CURL_SKIPS and not (
            exchange.is_websocket and lower in ("connection", "upgrade")
        ):
            continue
        args += ["-H", n + b": " + v if v else n + b";"]  # "name:" would remove a header
    if has_body and header(headers, b"content-type") is None:
        args += ["-H", "Content-Type:"]  # or curl adds application/x-www-form-urlencoded
    command = " ".join(map(_quote, args))
    data = bytes(body.data)
    if has_body:
        if b"\x00" not in data:
            # --data-raw sends its argument as is; --data-binary would read "@name" as a file.
            command += " --data-raw " + _quote(data)
        else:  # an argument cannot hold a NUL byte: printf writes the body to curl's stdin
            command = f"printf %b {_octal(data)} | {command} --data-binary @-"
    if body.truncated:
        command = f"# request body truncated: {len(data)} of {body.size} bytes captured\n{command}"
    elif has_body and not body.complete:
        command = f"# request body incomplete: the app read {body.size} bytes\n{command}"
    return command


def curl_all(exchanges: Iterable[Exchange], *, redact: Redact = False) -> str:
    """One curl command per exchange that has a request, a line each, in the given order."""
    return "\n".join(curl(x, redact=redact) for x in exchanges if x.request is not None)


def _quote(value: str | bytes) -> str:
    """Shell-quote so the shell passes these exact bytes (a UTF-8 terminal and shell assumed):
    '...' for printable UTF-8 text, else bash's $'...' with `\\xHH` escapes."""
    if isinstance(value, str):
        value = value.encode()
    try:
        text = value.decode()
    except UnicodeDecodeError:  # bytes that are not UTF-8 can only be escaped
        return "$'" + "".join(_escape(bytes([b]), chr(b)) for b in value) + "'"
    if text.isprintable():
        return shlex.quote(text)
    return "$'" + "".join(_escape(c.encode(), c) for c in text) + "'"


def _escape(data: bytes, char: str) -> str:
    if char in "\\'":
        return "\\" + char
    if char.isprintable() and (char.isascii() or len(data) > 1):  # len 1: a non-UTF-8 byte
        return char
    return "".join(f"\\x{b:02x}" for b in data)


def _octal(data: bytes) -> str:
    """Bytes as a quoted `printf %b` argument: POSIX `\\0ooo` escapes for all but plain ASCII."""
    return "'" + "".join(chr(b) if b in _PLAIN else f"\\0{b:03o}" for b in data) + "'"
