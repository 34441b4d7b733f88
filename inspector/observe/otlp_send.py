"""`SpanSender`: finished exchanges to an OTLP/HTTP endpoint, on a thread of its own.

`put` only appends to a bounded queue (by count and by the bytes its items hold) under a lock
held for no I/O, so the observer's loop, and so the viewer, never waits for the backend; past
the bounds the oldest item goes and is counted. The sender's thread takes batches, builds
their spans (`build`, which may be slow: protobuf is not free) and hands them to the official
`OTLPSpanExporter`, which retries transient failures with backoff within its timeout; a batch
it gives up on is kept and tried again after a backoff of our own (1 s doubling to 30 s),
while newer items wait in the queue. A backend that is down is said once (`report`), and once
more when it takes spans again, with the count lost meanwhile; the exporter's own per-batch
log lines are kept off the terminal (the viewer owns it).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

Item = TypeVar("Item")

DEFAULT_CAPACITY = 10_000
"""Exchanges waiting to be sent, at most."""
DEFAULT_MAX_BYTES = 64 << 20
"""Bytes those exchanges may hold (bodies and messages kept for the spans), at most."""
BATCH = 512
LINGER = 0.5
"""Seconds a batch waits to fill before it goes."""
BACKOFF_MAX = 30.0
_EXPORT_TIMEOUT = 10.0


def traces_endpoint(url: str) -> str:
    """The OTLP/HTTP traces URL for what a user gives: a collector's base URL
    (`http://host:4318`) gets the signal path `/v1/traces`, as OTEL_EXPORTER_OTLP_ENDPOINT
    does (OTLP exporter specification); a URL already ending with it is kept."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--otlp takes an http:// or https:// URL, not {url!r}")
    if parts.path.rstrip("/").endswith("/v1/traces"):
        return url
    return url.rstrip("/") + "/v1/traces"


@dataclass(frozen=True, slots=True)
class SenderStats:
    sent: int
    """Spans the backend took."""
    dropped: int
    """Items dropped from the full queue, or left unsent at the end."""
    waiting: int
    down: bool


class _Problems(logging.Handler):
    """Keeps the exporter's last complaint, for our one report, instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        # The exporter's messages (opentelemetry.exporter.otlp.common.http), read for a reason
        # a person can act on; the first of an attempt says most.
        message, args = str(record.msg), record.args if isinstance(record.args, tuple) else ()
        if message.startswith("Transient error") and args:
            self.last = self.last or _short(args[0])
        elif message.startswith("Failed to export %s batch code") and len(args) == 3:
            code, reason = args[1], args[2]
            self.last = f"HTTP {code} {_short(reason)}" if code else _short(reason)
        elif message.startswith("Failed to export %s batch due to timeout"):
            self.last = self.last or "no answer within the timeout"
        elif record.levelno >= logging.WARNING and not self.last:
            self.last = record.getMessage()


def _short(error: object) -> str:
    """A requests error holds the whole chain (`HTTPConnectionPool(...): Max retries...`)."""
    text = str(error)
    for known in ("Connection refused", "Name or service not known", "timed out"):
        if known in text:
            return known.lower()
    return text if len(text) <= 160 else text[:157] + "..."


_problems = _Problems()


def _quiet_exporter() -> None:
    logger = logging.getLogger("opentelemetry")
    if _problems not in logger.handlers:
        logger.addHandler(_problems)
        logger.propagate = False  # not to stderr, under the viewer


class SpanSender(Generic[Item]):
    def __init__(
        self,
        url: str,
        build: Callable[[Sequence[Item]], list[ReadableSpan]],
        report: Callable[[str], None],
        *,
        headers: dict[str, str] | None = None,
        capacity: int = DEFAULT_CAPACITY,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = _EXPORT_TIMEOUT,
        exporter: OTLPSpanExporter | None = None,
    ) -> None:
        """`build`: a batch of items to spans (on the sender's thread); `report`: a sentence
        for the user (from the sender's thread)."""
        _quiet_exporter()
        self.url = traces_endpoint(url)
        self.exporter = exporter or OTLPSpanExporter(self.url, headers=headers, timeout=timeout)
        self.build = build
        self.report = report
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.sent = 0
        self.dropped = 0
        self.build_errors = 0
        self.attempts = 0
        """Exports tried (each retried by the exporter within its timeout)."""
        self.down = False
        self._queue: deque[tuple[Item, int]] = deque()
        self._bytes = 0
        self._pending: list[ReadableSpan] = []
        """Spans built and not taken yet: tried again until they are."""
        self._pending_items = 0
        self._dropped_while_down = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="inspector-otlp", daemon=True)
        self._thread.start()

    # -- any thread ------------------------------------------------------------------------

    def put(self, item: Item, cost: int = 0) -> None:
        """Queue an item (`cost`: the bytes it holds); never blocks on the backend."""
        with self._lock:
            queue = self._queue
            queue.append((item, cost))
            self._bytes += cost
            while len(queue) > self.capacity or (self._bytes > self.max_bytes and len(queue) > 1):
                _, lost = queue.popleft()
                self._bytes -= lost
                self.dropped += 1
                self._dropped_while_down += 1
            if len(queue) == 1 or len(queue) >= BATCH:
                self._wake.notify()

    def stats(self) -> SenderStats:
        with self._lock:
            waiting = len(self._queue) + len(self._pending)
            return SenderStats(self.sent, self.dropped, waiting, self.down)

    def close(self, timeout: float = 5.0) -> SenderStats:
        """Send what waits, for up to `timeout` seconds, then stop; what is left is dropped
        (and counted)."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.exporter.shutdown()  # type: ignore[no-untyped-call]  # cuts a retry's wait short
            self._thread.join(1.0)
        else:
            self.exporter.shutdown()  # type: ignore[no-untyped-call]
        with self._lock:
            self.dropped += len(self._queue) + self._pending_items
            self._queue.clear()
            self._pending, self._pending_items = [], 0
        return self.stats()

    # -- the sender's thread ---------------------------------------------------------------

    def _run(self) -> None:
        backoff = 1.0
        while True:
            with self._lock:
                if not self._pending:
                    while not self._queue and not self._closing:
                        self._wake.wait()
                    if len(self._queue) < BATCH and not self._closing:
                        self._wake.wait(LINGER)
                if self._closing and not self._queue and not self._pending:
                    return
                batch = []
                if not self._pending:  # a batch the backend refused goes first, alone
                    batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                    self._bytes -= sum(cost for _, cost in batch)
            if batch:
                self._pending += self._build([item for item, _ in batch])
                self._pending_items += len(batch)
            if not self._pending:
                continue
            if self._export():
                backoff = 1.0
                continue
            with self._lock:
                if self._closing:  # the backend is down: no use waiting at the end
                    return
                self._wake.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _build(self, items: list[Item]) -> list[ReadableSpan]:
        try:
            return self.build(items)
        except Exception as exc:
            self.build_errors += 1
            with self._lock:
                self.dropped += len(items)
                self._pending_items -= len(items)
            if self.build_errors == 1:
                self.report(f"OTLP: could not turn exchanges into spans: {exc!r}")
            return []

    def _export(self) -> bool:
        spans = self._pending
        self.attempts += 1
        _problems.last = ""
        try:
            result = self.exporter.export(spans)
        except Exception as exc:  # the exporter should not raise; a bug must not stop us
            _problems.last = repr(exc)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            with self._lock:
                self.sent += len(spans)
                self._pending, self._pending_items = [], 0
                was_down, lost = self.down, self._dropped_while_down
                self.down = False
                self._dropped_while_down = 0
            if was_down:
                self.report(f"OTLP: sending spans to {self.url} again; {_lost(lost)}")
            return True
        with self._lock:
            was_down, self.down = self.down, True
            if not was_down:
                self._dropped_while_down = 0
        if not was_down:
            reason = _problems.last or "it did not take them"
            self.report(
                f"OTLP: cannot send spans to {self.url}: {reason}; retrying with backoff, "
                f"keeping at most {self.capacity:,} exchanges (the oldest are dropped)"
            )
        return False


def _lost(count: int) -> str:
    if count == 0:
        return "no exchange was dropped meanwhile"
    return f"{count:,} exchange{'s' * (count != 1)} dropped meanwhile"


def send_now(url: str, spans: Sequence[ReadableSpan], headers: dict[str, str] | None = None) -> str:
    """Send spans at once, in batches, for a command that waits (`inspector export`): the
    exporter retries with backoff within its timeout; a backend that still refuses them is
    an OSError naming it. The endpoint's URL is returned."""
    _quiet_exporter()
    endpoint = traces_endpoint(url)
    exporter = OTLPSpanExporter(endpoint, headers=headers or None, timeout=_EXPORT_TIMEOUT)
    try:
        for start in range(0, len(spans), BATCH):
            _problems.last = ""
            if exporter.export(spans[start : start + BATCH]) is not SpanExportResult.SUCCESS:
                sent = f"{start:,} of {len(spans):,} spans sent"
                reason = _problems.last or "it did not take them"
                raise OSError(f"cannot send spans to {endpoint}: {reason} ({sent})")
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    return endpoint
