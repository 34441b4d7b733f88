"""`WSGIInspectorMiddleware`: records a WSGI app's request, response and iterable life (PEP 3333).

Transparency rules this module keeps, each from PEP 3333:
- `start_response` is called with exactly the arguments the app gave, so an `exc_info`
  re-call behaves as the server defines (it replaces unsent headers or re-raises).
- The app's iterable is wrapped by an object that yields the same chunks lazily (so a
  generator may call `start_response` late), has `__len__` only if the iterable has it (wsgiref
  sets Content-Length from a one-item list), and calls the iterable's `close()` exactly once
  per `close()` the server makes.
- `wsgi.file_wrapper` results are returned untouched, so the server can still use sendfile.
- `wsgi.input` is wrapped only when a body may follow; the wrapper reads nothing by itself
  and records only what the app reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from inspector.bus import EventBus
from inspector.capture.options import (
    DEFAULT_BODY_LIMIT,
    CaptureOptions,
    app_failed,
    cut,
    headers_from,
    mask,
    snapshot,
)
from inspector.events import (
    ExchangeFinished,
    Headers,
    IterableClosed,
    Outcome,
    RequestBodyChunk,
    RequestStarted,
    ResponseBodyChunk,
    ResponseBodyWritten,
    ResponseFileSent,
    ResponseRestarted,
    ResponseStarted,
    new_exchange_id,
    now_ns,
    wall_time,
)

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class WSGIInspectorMiddleware:
    def __init__(
        self,
        app: WSGIApp,
        *,
        bus: EventBus | str | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        redact: bool | Iterable[str] = False,
        enabled: bool = True,
    ) -> None:
        self.app = app
        self.options = CaptureOptions(bus, body_limit, redact, enabled)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        options = self.options
        if not options.enabled:
            return self.app(environ, start_response)
        xid = new_exchange_id()
        exchange = _Exchange(xid, options, start_response)
        environ["inspector.exchange_id"] = xid
        exchange.record(_request_started, xid, exchange.started, dict(environ), options.redact)
        length = _body_length(environ)
        stream = environ.get("wsgi.input")
        if length != 0 and stream is not None:
            environ["wsgi.input"] = _RecordedInput(stream, exchange, length)
        else:
            exchange.request_done = exchange.started
        try:
            result = self.app(environ, exchange.start_response)
        except Exception as exc:
            exchange.failed(exc)
            exchange.finish("failed")
            raise
        except BaseException:
            exchange.finish("cancelled")
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
            exchange.file_sent(result)
            return result
        if hasattr(result, "__len__"):
            return _SizedResponse(result, exchange)
        return _Response(result, exchange)


class _Exchange:
    """Everything one request needs while it runs; made in `__call__`, dropped with it."""

    __slots__ = (
        "_start_response",
        "error",
        "exhausted",
        "options",
        "record",
        "request_done",
        "request_left",
        "response_left",
        "response_start",
        "started",
        "xid",
    )

    def __init__(self, xid: str, options: CaptureOptions, start_response: StartResponse) -> None:
        self.xid = xid
        self.options = options
        self.record = options.bus.record
        self.started = now_ns()
        self.request_left = self.response_left = options.body_limit
        self.request_done: int | None = None
        self.response_start: int | None = None
        self.exhausted = False
        self.error = False
        self._start_response = start_response

    def start_response(self, status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        try:
            at = now_ns()
            redact = self.options.redact
            if self.response_start is None:
                self.response_start = at
                self.record(_response_started, self.xid, at, status, tuple(headers), redact)
            else:
                error = repr(exc_info[0][1]) if exc_info and exc_info[0] else ""
                self.record(
                    _response_restarted, self.xid, at, status, tuple(headers), error, redact
                )
        except Exception as exc:
            self.options.bus.capture_failed(self.xid, "start_response", exc)
        write = self._start_response(status, headers, *exc_info)
        return self._recorded_write(write)

    def _recorded_write(self, write: Callable[[bytes], object]) -> Callable[[bytes], object]:
        def recorded_write(data: bytes) -> object:
            self.response_chunk(ResponseBodyWritten, data)
            return write(data)

        return recorded_write

    def response_chunk(self, cls: Any, data: bytes, *rest: Any) -> None:
        try:
            if type(data) is not bytes:  # a view the app may change (or resize) once we return
                data = bytes(data)
            self.record(_response_chunk, self, now_ns(), cls, data, rest)
        except Exception as exc:
            self.options.bus.capture_failed(self.xid, "response body", exc)

    def request_chunk(self, data: bytes, more: bool) -> None:
        try:
            at = now_ns()
            if type(data) is not bytes:
                data = bytes(data)
            self.record(_request_chunk, self, at, data, more)
            if not more and self.request_done is None:
                self.request_done = at
        except Exception as exc:
            self.options.bus.capture_failed(self.xid, "wsgi.input", exc)

    def failed(self, exc: BaseException) -> None:
        self.error = True
        self.record(app_failed, self.xid, now_ns(), exc, self.response_start is not None)

    def file_sent(self, wrapper: Any) -> None:
        # The server sends the file itself (maybe with sendfile): we never read it, and its
        # close() stays between the server and the wrapper.
        path = getattr(getattr(wrapper, "filelike", None), "name", None)
        path = path if isinstance(path, str) else None
        self.record(
            ResponseFileSent, self.xid, now_ns(), "wsgi.file_wrapper", path, None, None, False
        )
        self.finish("completed")

    def finish(self, outcome: Outcome) -> None:
        self.record(_finished, self, now_ns(), outcome)


class _Response:
    """The app's iterable as the server sees it: same chunks, same laziness, same close()."""

    __slots__ = ("_exchange", "_result")

    def __init__(self, result: Iterable[bytes], exchange: _Exchange) -> None:
        self._result = result
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        try:
            for chunk in self._result:
                exchange.response_chunk(ResponseBodyChunk, chunk, True)
                yield chunk
                # Let go before asking the app for more: it may resize a buffer it yielded a
                # view of, which fails while anyone still holds the view (BufferError).
                del chunk
        except Exception as exc:
            exchange.failed(exc)
            raise
        exchange.exhausted = True

    def close(self) -> None:
        exchange = self._exchange
        close = getattr(self._result, "close", None)
        try:
            if close is not None:
                exchange.record(IterableClosed, exchange.xid, now_ns())
                close()
        except Exception as exc:
            exchange.failed(exc)
            raise
        finally:
            if exchange.error:
                exchange.finish("failed")
            else:
                exchange.finish("completed" if exchange.exhausted else "cancelled")


class _SizedResponse(_Response):
    __slots__ = ()

    def __len__(self) -> int:
        return len(self._result)  # type: ignore[arg-type]


class _RecordedInput:
    """`wsgi.input` that records what the app reads, and reads nothing on its own."""

    def __init__(self, stream: Any, exchange: _Exchange, length: int | None) -> None:
        self._stream = stream
        self._exchange = exchange
        self._left = length

    def _seen(self, data: bytes) -> bytes:
        if self._left is None:
            more = data != b""
        else:
            self._left -= len(data)
            more = self._left > 0 and data != b""
        self._exchange.request_chunk(data, more)
        return data

    def read(self, *args: Any) -> bytes:
        return self._seen(self._stream.read(*args))

    def readline(self, *args: Any) -> bytes:
        return self._seen(self._stream.readline(*args))

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*args)
        self._seen(b"".join(lines))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            yield self._seen(line)
        if self._left is None:
            self._seen(b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _body_length(environ: Environ) -> int | None:
    """0 when no body can follow, None when its length is unknown (chunked).

    `wsgi.input_terminated` (gunicorn sets it on every request) only promises EOF at the end
    of the body; as in RFC 9112 section 6.3, a request without Content-Length or chunked
    Transfer-Encoding has no body.
    """
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return None


# Factories: these run on the bus thread, never on the request path. Only they change an
# exchange's `request_left` and `response_left` (the capture budget still unspent).


def _response_chunk(
    exchange: _Exchange, at: int, cls: Any, data: Any, rest: tuple[Any, ...]
) -> Any:
    data = data if type(data) is bytes else bytes(data)
    keep = min(exchange.response_left, len(data))
    exchange.response_left -= keep
    return cut(cls, exchange.xid, at, data, keep, *rest)


def _request_chunk(exchange: _Exchange, at: int, data: Any, more: bool) -> RequestBodyChunk:
    data = data if type(data) is bytes else bytes(data)
    keep = min(exchange.request_left, len(data))
    exchange.request_left -= keep
    event: RequestBodyChunk = cut(RequestBodyChunk, exchange.xid, at, data, keep, more)
    return event


def _finished(exchange: _Exchange, at: int, outcome: Outcome) -> ExchangeFinished:
    started, done, first = exchange.started, exchange.request_done, exchange.response_start
    return ExchangeFinished(
        exchange.xid,
        at,
        outcome,
        None if done is None else done - started,
        None if first is None else first - started,
        at - started,
    )


def _request_started(
    xid: str, at: int, environ: Environ, redact: frozenset[bytes] | None
) -> RequestStarted:
    # PEP 3333 "Unicode Issues": environ strings are bytes decoded as latin-1.
    def raw(key: str, default: str = "") -> bytes:
        return str(environ.get(key, default)).encode("latin-1", "replace")

    path = raw("SCRIPT_NAME") + raw("PATH_INFO")
    request_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    protocol = str(environ.get("SERVER_PROTOCOL", "HTTP/1.0"))
    return RequestStarted(
        xid,
        at,
        source="wsgi",
        kind="http",
        method=str(environ.get("REQUEST_METHOD", "GET")),
        scheme=str(environ.get("wsgi.url_scheme", "http")),
        http_version=protocol.removeprefix("HTTP/"),
        path=path.decode("utf-8", "replace"),
        raw_path=None if request_uri is None else raw("", request_uri).split(b"?", 1)[0],
        query=raw("QUERY_STRING"),
        headers=mask(_environ_headers(environ), redact),
        client=_address(environ, "REMOTE_ADDR", "REMOTE_PORT"),
        server=_address(environ, "SERVER_NAME", "SERVER_PORT"),
        wall_time=wall_time(at),
        snapshot=snapshot(environ, redact, _header_name),
    )


_NOT_A_HEADER = b""
_header_names: dict[str, bytes] = {}
"""Environ key -> header name (b"" for other keys); bounded, as clients choose header names."""


def _header_name(key: str) -> bytes:
    if key.startswith("HTTP_"):
        key = key[5:]
    elif key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return _NOT_A_HEADER
    return key.replace("_", "-").lower().encode("latin-1", "replace")


def _environ_headers(environ: Environ) -> Headers:
    # PEP 3333 keeps request headers as HTTP_* keys, CONTENT_TYPE and CONTENT_LENGTH.
    names = _header_names
    headers = []
    for key, value in environ.items():
        name = names.get(key)
        if name is None:
            name = _header_name(key)
            if len(names) < 4096:
                names[key] = name
        if name and (value or key[0] == "H"):  # an empty CONTENT_* means "not sent"
            # PEP 3333 says latin-1; an outer middleware may have put other text in.
            headers.append((name, str(value).encode("latin-1", "replace")))
    return tuple(headers)


def _address(environ: Environ, host_key: str, port_key: str) -> tuple[str, int | None] | None:
    host = environ.get(host_key)
    if host is None:
        return None
    port = environ.get(port_key)
    return str(host), int(port) if port and str(port).isdigit() else None


def _status(status: str) -> tuple[int, str]:
    code, _, reason = status.partition(" ")
    return int(code), reason


def _response_started(
    xid: str, at: int, status: str, headers: Any, redact: frozenset[bytes] | None
) -> ResponseStarted:
    code, reason = _status(status)
    return ResponseStarted(xid, at, code, headers_from(_encoded(headers), redact), False, reason)


def _response_restarted(
    xid: str, at: int, status: str, headers: Any, error: str, redact: frozenset[bytes] | None
) -> ResponseRestarted:
    code, reason = _status(status)
    return ResponseRestarted(xid, at, code, headers_from(_encoded(headers), redact), reason, error)


def _encoded(headers: Iterable[tuple[str, str]]) -> Iterator[tuple[bytes, bytes]]:
    for name, value in headers:
        yield name.encode("latin-1", "replace"), value.encode("latin-1", "replace")
