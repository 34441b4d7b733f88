"""What both middlewares share: their options, and how they describe an app's exception.

Capture records raw facts (`record(TAG, exchange_id, at_ns, data...)`, see `inspector.records`);
the observer turns them into events, masking the headers named by `redact` there.
"""

from __future__ import annotations

import traceback
from typing import Any

from inspector import runtime
from inspector.records import DEFAULT_BODY_LIMIT, FAILED, Recorder
from inspector.redact import Redact, recorded_names

__all__ = ["DEFAULT_BODY_LIMIT", "CaptureOptions", "record_failure"]


class CaptureOptions:
    """Configuration shared by `ASGIInspectorMiddleware` and `WSGIInspectorMiddleware`.

    bus: where records go: a `Recorder` (an `EventBus`, a `Sink`), or a bus address such as
        "tcp://127.0.0.1:7999" (default: the process-wide sink, see `inspector.runtime`).
    body_limit: bytes kept per direction per exchange (and per WebSocket message); the rest is
        counted, not kept.
    redact: header names to mask in captured events: one name, several, True (the usual
        secrets), False or None (none; the default: live viewing wants to see what really
        passed). The app's traffic is never changed.
    enabled: False makes the middleware a plain pass-through.
    """

    def __init__(
        self,
        bus: Recorder | str | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        redact: Redact = False,
        enabled: bool = True,
    ) -> None:
        if body_limit < 0:
            raise ValueError("body_limit must be >= 0")
        if isinstance(bus, str):
            bus = runtime.sink_to(bus)
        elif bus is None and enabled:
            bus = runtime.default_sink()
        self.bus = bus
        self.record = bus.record if bus is not None else _nowhere
        self.failed = getattr(bus, "failed", _nowhere)
        self.body_limit = body_limit
        self.redact = recorded_names(redact)
        self.enabled = enabled and bus is not None


def _nowhere(*fields: Any) -> None:
    pass


def record_failure(options: CaptureOptions, xid: str, at: int, exc: BaseException) -> None:
    """The app's exception, described once now (it is about to propagate, unchanged)."""
    try:
        cls = type(exc)
        module = cls.__module__
        name = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
        text = "".join(traceback.format_exception(exc))
        options.record(FAILED, xid, at, name, _message(exc), text)
    except Exception as error:  # a hostile __str__ must not change what the app raised
        options.failed(xid, "app failure", error)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__qualname__}>"
