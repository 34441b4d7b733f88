"""The in-process event bus: the app's threads record facts, one thread delivers events.

Recording is the only thing capture does on the request path, so it is one `deque.append`:
O(1), thread-safe under the GIL, never blocking, never raising. A record is a factory and its
arguments (`bus.record(ResponseStarted, xid, t, 200, headers, False)`); the bus's own thread
calls the factory, so building frozen events and parsing environ or scope cost the app nothing.

The queue is bounded: past `capacity` the oldest records are dropped, counted exactly, and the
subscribers get an `EventsDropped` event before the next batch. Subscribers receive batches
(lists of events) on the bus thread; one that raises is counted and the others still run.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from inspector.events import CaptureFailed, Event, EventsDropped, now_ns

Subscriber = Callable[[Sequence[Event]], None]

DEFAULT_CAPACITY = 100_000
DEFAULT_INTERVAL = 0.005
_IDLE_MAX = 0.05


@dataclass(frozen=True, slots=True)
class BusStats:
    delivered: int
    """Events handed to subscribers."""
    dropped: int
    """Records dropped because the queue was full."""
    queued: int
    subscriber_errors: int
    capture_errors: int
    """Failures inside capture (including a record whose factory raised)."""
    last_error: str | None


class RecordFailed(Exception):
    """Raised (from the real error) by a factory that knows which exchange it was building."""

    def __init__(self, exchange_id: str, where: str) -> None:
        super().__init__(exchange_id, where)
        self.exchange_id = exchange_id
        self.where = where


def _same(event: Event) -> Event:
    return event


class EventBus:
    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, interval: float = DEFAULT_INTERVAL
    ) -> None:
        """`capacity`: records kept while the bus thread is behind; `interval`: how long the
        bus thread sleeps when it finds nothing to deliver (the latency of an idle bus)."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.interval = interval
        self._subscribers: tuple[Subscriber, ...] = ()
        self._closed = False
        self._reset()
        _live_buses.add(self)

    def _reset(self) -> None:
        # Also runs in a forked child: the parent's queue, lock and thread are not ours.
        self._queue: deque[tuple[Any, ...]] = deque()
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._busy = False
        self._dropped = 0
        self._dropped_reported = 0
        self._delivered = 0
        self._subscriber_errors = 0
        self._capture_errors = 0
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        if not self._closed:
            self._thread = threading.Thread(target=self._run, name="inspector-bus", daemon=True)
            self._thread.start()

    # -- the request path -------------------------------------------------------------------

    def record(self, *record: Any) -> None:
        """Queue `factory(*args)` to be built into an event on the bus thread.

        Never blocks, never raises; a factory that raises later is counted as a capture error.
        """
        queue = self._queue
        queue.append(record)
        if len(queue) > self.capacity:
            self._shed()

    def publish(self, event: Event) -> None:
        """Queue an event that is already built."""
        self.record(_same, event)

    def publish_all(self, events: Sequence[Event]) -> None:
        """Queue events that are already built (a collector hands over a peer's batch)."""
        self._queue.extend([(_same, event) for event in events])
        if len(self._queue) > self.capacity:
            self._shed()

    def capture_failed(self, exchange_id: str, where: str, exc: BaseException) -> None:
        """Called by capture points when their own code raised; the app never sees it."""
        self._capture_errors += 1
        self._last_error = f"{where}: {exc!r}"
        self.record(CaptureFailed, exchange_id, now_ns(), where, repr(exc))

    def _shed(self) -> None:
        with self._lock:
            queue = self._queue
            while len(queue) > self.capacity:
                try:
                    queue.popleft()
                except IndexError:  # the bus thread emptied it meanwhile
                    break
                self._dropped += 1

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
            dropped=self._dropped,
            queued=len(self._queue),
            subscriber_errors=self._subscriber_errors,
            capture_errors=self._capture_errors,
            last_error=self._last_error,
        )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything recorded so far has been delivered. For tests and exits."""
        deadline = now_ns() + int(timeout * 1e9)
        with self._drained:
            while self._queue or self._busy:
                left = (deadline - now_ns()) / 1e9
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
        queue = self._queue
        idle = self.interval
        while not self._closed and queue is self._queue:
            if not queue:
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
                self._deliver(self._build(queue))
            finally:
                with self._drained:
                    self._busy = False
                    if not queue:
                        self._drained.notify_all()

    def _build(self, queue: deque[tuple[Any, ...]]) -> list[Event]:
        events: list[Event] = []
        dropped = self._dropped - self._dropped_reported
        if dropped:
            self._dropped_reported += dropped
            events.append(EventsDropped("", now_ns(), dropped, self._dropped_reported, "bus"))
        for _ in range(len(queue)):
            try:
                record = queue.popleft()
            except IndexError:  # shed by a publisher meanwhile
                break
            try:
                events.append(record[0](*record[1:]))
            except RecordFailed as failed:
                self._capture_errors += 1
                self._last_error = f"{failed.where}: {failed.__cause__!r}"
                events.append(
                    CaptureFailed(
                        failed.exchange_id, now_ns(), failed.where, repr(failed.__cause__)
                    )
                )
            except Exception as exc:
                self._capture_errors += 1
                self._last_error = f"building {getattr(record[0], '__name__', record[0])}: {exc!r}"
                events.append(CaptureFailed("", now_ns(), "bus", self._last_error))
        return events

    def _deliver(self, events: list[Event]) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(events)
            except Exception as exc:
                self._subscriber_errors += 1
                self._last_error = f"subscriber {subscriber!r}: {exc!r}"
        self._delivered += len(events)


_live_buses: weakref.WeakSet[EventBus] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for bus in list(_live_buses):
        bus._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)

_default_bus: EventBus | None = None
_default_lock = threading.Lock()


def default_bus() -> EventBus:
    """The process-wide bus that capture points use unless given one.

    Its events stream to the viewer at `INSPECTOR_BUS` (default: the per-user socket, see
    `inspector.wire`; `off` keeps them in this process), presenting `INSPECTOR_TOKEN` if set,
    and keeping at most `INSPECTOR_BUFFER` events while no viewer reads them.
    """
    global _default_bus
    with _default_lock:
        if _default_bus is None:
            from inspector import sink, wire  # the sink imports this module

            bus = EventBus()
            address = wire.address_from_env()
            if address is not None:
                token = os.environ.get("INSPECTOR_TOKEN") or None
                buffer = os.environ.get("INSPECTOR_BUFFER") or str(sink.DEFAULT_CAPACITY)
                if not buffer.isdigit() or int(buffer) < 1:
                    raise ValueError(f"INSPECTOR_BUFFER must be a number of events, not {buffer!r}")
                capacity = int(buffer)
                sink.Sink(address, token=token, capacity=capacity).attach(bus)
            _default_bus = bus
        return _default_bus
