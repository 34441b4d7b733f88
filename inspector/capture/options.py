"""What both middlewares share: their options, and the factories the bus thread runs.

Capture records raw facts (`bus.record(factory, *args)`); the factories here turn them into
events on the bus thread: normalising and masking headers, cutting bodies to the capture limit.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from inspector import redact
from inspector.bus import EventBus, default_bus
from inspector.events import AppFailed, Headers, Snapshot
from inspector.redact import mask_snapshot
from inspector.sink import bus_to

DEFAULT_BODY_LIMIT = 1 << 20
REDACTED = redact.REDACTED.encode()
SENSITIVE_HEADERS = redact.SENSITIVE_HEADERS


class CaptureOptions:
    """Configuration shared by `ASGIInspectorMiddleware` and `WSGIInspectorMiddleware`.

    bus: where events go: a bus, or a bus address such as "tcp://127.0.0.1:7999" (default:
        the process-wide bus, which streams to `INSPECTOR_BUS` or the per-user default).
    body_limit: bytes kept per direction per exchange (and per WebSocket message); the rest is
        counted, not kept.
    redact: header names to mask in captured events (True: the usual secrets). Off by default:
        live viewing wants to see what really passed. The app's traffic is never changed.
    enabled: False makes the middleware a plain pass-through.
    """

    def __init__(
        self,
        bus: EventBus | str | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        redact: bool | Iterable[str] = False,
        enabled: bool = True,
    ) -> None:
        if body_limit < 0:
            raise ValueError("body_limit must be >= 0")
        if isinstance(bus, str):
            bus = bus_to(bus)
        self.bus = bus if bus is not None else default_bus()
        self.body_limit = body_limit
        self.redact: frozenset[bytes] | None = _redact_set(redact)
        self.enabled = enabled


def _redact_set(redact: bool | Iterable[str]) -> frozenset[bytes] | None:
    if redact is True:
        names: Iterable[str] = SENSITIVE_HEADERS
    elif redact is False:
        return None
    else:
        names = redact
    return frozenset(name.lower().encode("latin-1") for name in names) or None


def headers_from(raw: Iterable[Any], redact: frozenset[bytes] | None) -> Headers:
    """ASGI headers (any iterable of 2-item byte pairs) as a tuple of tuples, masked."""
    return mask(tuple(map(tuple, raw)), redact)


def mask(headers: Headers, redact: frozenset[bytes] | None) -> Headers:
    if redact is None:
        return headers
    return tuple((n, REDACTED if n.lower() in redact else v) for n, v in headers)


def snapshot(
    raw: Mapping[str, Any], redact: frozenset[bytes] | None, omit: Callable[[str], object]
) -> Snapshot:
    """The scope or environ, lazily JSON-safe, without the keys `omit` names: the headers,
    which the event holds already (parsed, in order, masked)."""
    if redact is None:
        return Snapshot(raw, omit=omit)
    names = [name.decode("latin-1") for name in redact]
    return Snapshot(raw, lambda safe: mask_snapshot(safe, names), omit)


def cut(cls: Any, exchange_id: str, at_ns: int, body: bytes, keep: int, *rest: Any) -> Any:
    """Build a body event keeping the first `keep` bytes of `body` (on the bus thread)."""
    size = len(body)
    return cls(exchange_id, at_ns, body if keep >= size else body[:keep], size, *rest)


def app_failed(xid: str, at: int, exc: BaseException, response_started: bool) -> AppFailed:
    """The app's exception, formatted on the bus thread (its frames have finished by then)."""
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return AppFailed(
        xid,
        at,
        type=name,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        response_started=response_started,
    )
