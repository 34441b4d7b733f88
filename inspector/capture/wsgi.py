"""`WSGIInspectorMiddleware`: records a WSGI app's request, response and iterable life (PEP 3333).

Transparency rules this module keeps, from PEP 3333 and from servers that look closely:
- `start_response` is called with exactly the arguments the app gave, so an `exc_info`
  re-call behaves as the server defines (it replaces unsent headers or re-raises).
- A server gets the kind of result the app returned. A list is returned as it is (granian
  sends a list whole with Content-Length, and anything else chunked): its items are in memory
  already, so they are recorded as the body then, and the exchange finishes when the app
  returns, before the server has sent it. A list has no `close()`, so a list subclass's own
  `close()`, and a client that leaves while the list is sent, go unseen.
- `wsgi.file_wrapper` results are returned untouched, so the server can still use sendfile.
- Any other iterable is wrapped by an object that yields the same chunks lazily (so a
  generator may call `start_response` late), has `__len__` only if the iterable has it (wsgiref
  sets Content-Length from a one-item sequence), and calls the iterable's `close()` exactly
  once per `close()` the server makes.
- `wsgi.input` is wrapped only when a body may follow; the wrapper reads nothing by itself
  and records every read the app makes, by whichever method, as the bare stream answers it.

Each fact is one record (see `inspector.records`): the environ as it was when the app was
called, `start_response`'s arguments, body pieces cut to what may still be kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from inspector.capture.options import DEFAULT_BODY_LIMIT, CaptureOptions, record_failure
from inspector.events import new_exchange_id, now_ns
from inspector.records import (
    BODY_READ,
    BODY_SENT,
    BODY_WRITTEN,
    FILE_WRAPPED,
    FINISHED,
    ITERABLE_CLOSED,
    WSGI_ENVIRON,
    WSGI_STARTED,
    Recorder,
)

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class WSGIInspectorMiddleware:
    def __init__(
        self,
        app: WSGIApp,
        *,
        bus: Recorder | str | None = None,
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
        started = now_ns()
        xid = new_exchange_id()
        environ["inspector.exchange_id"] = xid
        options.record(WSGI_ENVIRON, xid, started, environ, options.redact)
        exchange = _Exchange(xid, options, start_response)
        stream = environ.get("wsgi.input")
        length = _body_length(environ)
        if length != 0 and stream is not None:
            environ["wsgi.input"] = _RecordedInput(stream, exchange, length)
        exchange.cost = now_ns() - started
        try:
            result = self.app(environ, exchange.start_response)
        except Exception as exc:
            record_failure(options, xid, now_ns(), exc)
            exchange.finish("failed")
            raise
        except BaseException:
            exchange.finish("cancelled")
            raise
        if isinstance(result, list):
            exchange.list_returned(result)
            return result
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
        "_write",
        "cost",
        "error",
        "exhausted",
        "options",
        "record",
        "request_left",
        "response_left",
        "xid",
    )

    def __init__(self, xid: str, options: CaptureOptions, start_response: StartResponse) -> None:
        self.xid = xid
        self.options = options
        self.record = options.record
        self.request_left = self.response_left = options.body_limit
        self.exhausted = False
        self.error = False
        self.cost = 0
        """Capture's own nanoseconds: each record's timestamp, and one clock read after it."""
        self._start_response = start_response

    def start_response(self, status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        at = now_ns()
        try:
            error = _describe(exc_info[0][1]) if exc_info and exc_info[0] else None
            redact = self.options.redact
            self.record(WSGI_STARTED, self.xid, at, status, headers, error, redact)
        except Exception as exc:
            self.options.failed(self.xid, "start_response", exc)
        self.cost += now_ns() - at
        self._write = self._start_response(status, headers, *exc_info)
        return self.write

    def write(self, data: bytes) -> object:
        """The `write()` callable `start_response` returns (PEP 3333), recorded."""
        self.response_chunk(BODY_WRITTEN, data)
        return self._write(data)

    def response_chunk(self, tag: int, data: bytes) -> None:
        at = now_ns()
        try:
            size, left = len(data), self.response_left
            if size > left:
                data, self.response_left = data[:left], 0
            else:
                self.response_left = left - size
            if tag == BODY_SENT:
                self.record(BODY_SENT, self.xid, at, data, size, True)
            else:
                self.record(BODY_WRITTEN, self.xid, at, data, size)
        except Exception as exc:
            self.options.failed(self.xid, "response body", exc)
        self.cost += now_ns() - at

    def request_chunk(self, data: bytes | memoryview, more: bool) -> None:
        at = now_ns()
        try:
            size, left = len(data), self.request_left
            if size > left:
                data, self.request_left = data[:left], 0
            else:
                self.request_left = left - size
            self.record(BODY_READ, self.xid, at, data, size, more)
        except Exception as exc:
            self.options.failed(self.xid, "wsgi.input", exc)
        self.cost += now_ns() - at

    def failed(self, exc: BaseException) -> None:
        self.error = True
        record_failure(self.options, self.xid, now_ns(), exc)

    def file_sent(self, wrapper: Any) -> None:
        # The server sends the file itself (maybe with sendfile): we never read it, and its
        # close() stays between the server and the wrapper.
        path = getattr(getattr(wrapper, "filelike", None), "name", None)
        self.record(FILE_WRAPPED, self.xid, now_ns(), path if isinstance(path, str) else None)
        self.finish("completed")

    def list_returned(self, result: list[bytes]) -> None:
        try:
            for chunk in result:
                self.response_chunk(BODY_SENT, chunk)
        except Exception as exc:  # a list subclass's own __iter__: the server meets it too
            self.options.failed(self.xid, "response list", exc)
        self.finish("completed")

    def finish(self, outcome: str) -> None:
        self.record(FINISHED, self.xid, now_ns(), outcome, self.cost)


def _describe(exc: object) -> str:
    try:
        return repr(exc)
    except Exception:
        return f"<{type(exc).__qualname__}>"


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
                exchange.response_chunk(BODY_SENT, chunk)
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
                exchange.record(ITERABLE_CLOSED, exchange.xid, now_ns())
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
    """`wsgi.input` that records what the app reads, and reads nothing on its own.

    Every read is recorded: PEP 3333's four, and the buffered reads a server's stream may
    offer besides (werkzeug's `LimitedStream`, under Flask, reads with `readinto` when the
    stream has it). Those are looked up on the stream, so `hasattr` answers as it does for
    the bare stream.
    """

    def __init__(self, stream: Any, exchange: _Exchange, length: int | None) -> None:
        self._stream = stream
        self._exchange = exchange
        self._left = length

    def _seen(self, data: bytes | memoryview, to_end: bool = False) -> None:
        """Record one read; `to_end`: it read up to EOF, so the body is complete."""
        size = len(data)
        if self._left is None:
            more = size > 0 and not to_end
        else:
            self._left -= size
            more = self._left > 0 and size > 0 and not to_end
        self._exchange.request_chunk(data, more)

    def read(self, *args: Any) -> bytes:
        data: bytes = self._stream.read(*args)
        self._seen(data, _to_eof(args, 0))
        return data

    def readline(self, *args: Any) -> bytes:
        return self._read(self._stream.readline, *args)

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*args)
        self._seen(b"".join(lines), _to_eof(args, 1))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self._seen(line)
            yield line
        if self._left is None:
            self._seen(b"")

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._stream, name)
        if name == "read1":
            return functools.partial(self._read, attribute)
        if name in ("readinto", "readinto1"):
            return functools.partial(self._read_into, attribute)
        return attribute

    def _read(self, read: Callable[..., bytes], *args: Any) -> bytes:
        data = read(*args)
        self._seen(data)
        return data

    def _read_into(self, readinto: Callable[[Any], int | None], buffer: Any) -> int | None:
        size = readinto(buffer)
        if size is not None:  # None: a non-blocking stream had nothing yet
            # The bytes just read, copied only when the record is encoded.
            self._seen(memoryview(buffer).cast("B")[:size])
        return size


def _to_eof(args: tuple[Any, ...], limits_from: int) -> bool:
    """Whether a read given `args` reads up to EOF: as in `io`, `read(size)` does for a size
    below 0 and `readlines(hint)` for a hint below 1; both do for None or no argument."""
    size = args[0] if args else None
    return size is None or (isinstance(size, int) and size < limits_from)


def _body_length(environ: Environ) -> int | None:
    """0 when no body can follow, None when its length is unknown (chunked).

    `wsgi.input_terminated` (gunicorn sets it on every request) only promises EOF at the end
    of the body; as in RFC 9112 section 6.3, a request without Content-Length or chunked
    Transfer-Encoding has no body.
    """
    if (
        "HTTP_TRANSFER_ENCODING" in environ
        and "chunked" in environ["HTTP_TRANSFER_ENCODING"].lower()
    ):
        return None
    length = environ.get("CONTENT_LENGTH")
    if not length:  # a GET: nothing more to look at
        return 0
    try:
        return max(int(length), 0)
    except ValueError:
        return None
