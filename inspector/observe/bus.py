"""The in-process event bus: records in, events out, on a thread of its own.

For embedding and tests: capture points record into it as they would into a `Sink`
(`bus.record(...)` only encodes into a bounded `RecordBuffer`), and its thread decodes each
record, builds events (`inspector.observe.build`) and delivers them, in batches, to its
subscribers. A subscriber that raises is counted and the others still run. Past the buffer's
bounds the oldest records are dropped and subscribers get an `EventsDropped` first.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from inspector import records as rec
from inspector.events import Event, EventsDropped, now_ns, wall_offset_ns
from inspector.observe.build import Builder

Subscriber = Callable[[Sequence[Event]], None]

DEFAULT_CAPACITY = 100_000
DEFAULT_INTERVAL = 0.005
_IDLE_MAX = 0.05


@dataclass(frozen=True, slots=True)
class BusStats:
    delivered: int
    """Events handed to subscribers."""
    dropped: int
    """Records dropped because the buffer was full."""
    queued: int
    subscriber_errors: int
    capture_errors: int
    """Failures inside capture, and records the observer could not understand."""
    last_error: str | None


class EventBus:
    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        interval: float = DEFAULT_INTERVAL,
        max_bytes: int = rec.DEFAULT_MAX_BYTES * 4,
    ) -> None:
        """`capacity`, `max_bytes`: records kept while the bus thread is behind; `interval`:
        how long the bus thread sleeps when it finds nothing to deliver."""
        self.buffer = rec.RecordBuffer(capacity, max_bytes)
        self.record = self.buffer.record
        self.failed = self.buffer.failed
        self.interval = interval
        self._subscribers: tuple[Subscriber, ...] = ()
        self._closed = False
        self._start()
        os.register_at_fork(after_in_child=self._after_fork)

    def _start(self) -> None:
        self._built: deque[Event] = deque()
        self._builder = Builder(wall_offset_ns())
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._busy = False
        self._dropped_reported = 0
        self._delivered = 0
        self._subscriber_errors = 0
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        if not self._closed:
            self._thread = threading.Thread(target=self._run, name="inspector-bus", daemon=True)
            self._thread.start()

    def _after_fork(self) -> None:  # the parent's records, lock and thread are not ours
        self.buffer.reset()
        self._start()

    # -- already built -----------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Deliver an event that is already built (after those queued before it)."""
        self._built.append(event)

    def publish_all(self, events: Sequence[Event]) -> None:
        self._built.extend(events)

    # -- consumers ---------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Deliver every later batch of events to `subscriber`; returns an unsubscribe call."""
        self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

        return unsubscribe

    def stats(self) -> BusStats:
        return BusStats(
            delivered=self._delivered,
            dropped=self.buffer.dropped,
            queued=len(self.buffer) + len(self._built),
            subscriber_errors=self._subscriber_errors,
            capture_errors=self.buffer.failures + self._builder.failures,
            last_error=self._last_error or self.buffer.last_error,
        )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything recorded so far has been delivered. For tests and exits."""
        deadline = time.monotonic() + timeout
        with self._drained:
            while self.buffer or self._built or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return False
                self._drained.wait(min(left, self.interval * 2))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, then stop the bus thread."""
        self.flush(timeout)
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    # -- the bus thread ----------------------------------------------------------------------

    def _run(self) -> None:
        idle = self.interval
        while not self._closed:
            if not self.buffer and not self._built:
                with self._drained:
                    self._drained.notify_all()
                time.sleep(idle)
                # An idle process should not wake 200 times a second: back off to 50 ms.
                idle = min(idle * 2, max(self.interval, _IDLE_MAX))
                continue
            idle = self.interval
            with self._lock:
                self._busy = True
            try:
                self._deliver(self._build())
            finally:
                with self._drained:
                    self._busy = False
                    self._drained.notify_all()

    def _build(self) -> list[Event]:
        taken = self.buffer.take()
        # Counted after the take: a record dropped between a count and the take would be
        # reported only if something else were recorded after it.
        events: list[Event] = []
        dropped = self.buffer.dropped - self._dropped_reported
        if dropped:
            self._dropped_reported += dropped
            events.append(EventsDropped("", now_ns(), dropped, self._dropped_reported, "bus"))
        built = self._built
        for _ in range(len(built)):
            events.append(built.popleft())
        builder = self._builder
        for data in taken:
            try:
                record = rec.decode_record(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                events.append(builder.unreadable(data, exc))
                continue
            events.extend(builder.build((record,)))
        return events

    def _deliver(self, events: list[Event]) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(events)
            except Exception as exc:
                self._subscriber_errors += 1
                self._last_error = f"subscriber {subscriber!r}: {exc!r}"
        self._delivered += len(events)
