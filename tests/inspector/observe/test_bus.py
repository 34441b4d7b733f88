"""The in-process bus: ordering across threads, exact drop counts, isolation, fork safety."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator, Sequence

import pytest

from inspector import EventBus
from inspector import events as ev
from inspector.records import ASGI_SCOPE, ASGI_SENT, CLIENT_GONE, FINISHED


@pytest.fixture
def bus() -> Iterator[EventBus]:
    bus = EventBus(capacity=10_000)
    yield bus
    bus.close()


def test_records_from_threads_racing_are_each_delivered_or_counted_dropped_once() -> None:
    """Four threads record at once (a barrier starts them together; the interpreter switches
    between them every microsecond) into a bus whose buffer is too small for it all, while the
    bus thread takes from it: however they interleave, each record is delivered or counted
    dropped, once, and each thread's records arrive in its order. (Four threads of 300 records
    each once ran one after the other: nothing raced, so any count passed.)"""
    bus = EventBus(capacity=1_000)
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    names, per_thread = ["t0", "t1", "t2", "t3"], 20_000
    together = threading.Barrier(len(names))
    log: list[str] = []

    def produce(name: str) -> None:
        together.wait()
        log.append("start")
        for n in range(per_thread):
            bus.record(CLIENT_GONE, name, n)
        log.append("end")

    threads = [threading.Thread(target=produce, args=(name,)) for name in names]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert bus.flush()
    bus.close()
    gone = [e for e in seen if type(e) is ev.ClientDisconnected]
    stats = bus.stats()
    assert len(gone) + stats.dropped == len(names) * per_thread
    reports = [e for e in seen if isinstance(e, ev.EventsDropped)]
    assert sum(r.count for r in reports) == stats.dropped
    for name in names:
        times = [e.at_ns for e in gone if e.exchange_id == name]
        assert times == sorted(set(times))  # in order, none twice
    assert log[: len(names)] == ["start"] * len(names)  # all of them were running at once


def test_records_are_built_into_events_with_their_exchange_state(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", b"h")]}
    bus.record(ASGI_SCOPE, "a-1", 1_000, scope)
    bus.record(ASGI_SENT, "a-1", 1_400, {"type": "http.response.start", "status": 200})
    bus.record(FINISHED, "a-1", 2_000, "completed")
    assert bus.flush()
    started, response, done = seen
    assert isinstance(started, ev.RequestStarted)
    assert (started.path, started.headers) == ("/", ((b"host", b"h"),))
    assert response == ev.ResponseStarted("a-1", 1_400, 200, (), False)
    assert done == ev.ExchangeFinished("a-1", 2_000, "completed", None, 400, 1_000)


def test_a_full_buffer_drops_the_oldest_and_says_how_many() -> None:
    bus = EventBus(capacity=10)
    release = threading.Event()
    batches: list[list[ev.Event]] = []

    def slow(events: Sequence[ev.Event]) -> None:
        batches.append(list(events))
        release.wait(5)

    bus.subscribe(slow)
    bus.record(CLIENT_GONE, "first", 0)
    while not batches:  # the bus thread is now stuck in the slow subscriber
        threading.Event().wait(0.001)
    for n in range(1, 101):
        bus.record(CLIENT_GONE, "x", n)
    assert bus.stats().dropped == 90
    release.set()
    assert bus.flush()
    bus.close()
    later = [e for batch in batches[1:] for e in batch]
    dropped = later[0]
    assert isinstance(dropped, ev.EventsDropped)
    assert (dropped.count, dropped.total, dropped.where) == (90, 90, "bus")
    assert [e.at_ns for e in later[1:]] == list(range(91, 101))  # the newest ten survive


def test_a_failing_subscriber_is_counted_and_others_still_receive(bus: EventBus) -> None:
    def broken(events: Sequence[ev.Event]) -> None:
        raise RuntimeError("subscriber bug")

    seen: list[ev.Event] = []
    bus.subscribe(broken)
    bus.subscribe(seen.extend)
    bus.record(CLIENT_GONE, "a", 1)
    assert bus.flush()
    bus.record(CLIENT_GONE, "a", 2)  # after a flush: a batch of its own
    assert bus.flush()
    assert [e.at_ns for e in seen] == [1, 2]
    stats = bus.stats()
    assert stats.subscriber_errors == 2  # one per batch it failed on
    assert stats.last_error is not None
    assert "subscriber bug" in stats.last_error


def test_a_record_the_builder_cannot_understand_becomes_capture_failed(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    bus.record(ASGI_SENT, "a", 5, {"type": "http.response.start"})  # no status
    bus.record(CLIENT_GONE, "a")  # no time: it does not even decode
    bus.record(CLIENT_GONE, "a", 7)
    assert bus.flush()
    assert len(seen) == 3
    not_understood, not_decoded, fine = seen
    assert isinstance(not_understood, ev.CaptureFailed)
    assert (not_understood.exchange_id, not_understood.at_ns) == ("a", 5)
    assert (not_understood.where, not_understood.error) == ("observer", "AsgiSent: 'status'")
    assert isinstance(not_decoded, ev.CaptureFailed)
    assert not_decoded.exchange_id == "a"
    assert not_decoded.error.startswith("ClientGone: ")
    assert fine == ev.ClientDisconnected("a", 7)
    assert bus.stats().capture_errors == 2


def test_capture_failures_are_delivered_and_counted(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    bus.failed("a", "send", KeyError("status"))
    assert bus.flush()
    assert [(type(e), e.exchange_id) for e in seen] == [(ev.CaptureFailed, "a")]
    stats = bus.stats()
    assert stats.capture_errors == 1
    assert stats.last_error == "send: KeyError('status')"


def test_published_events_are_delivered_as_they_are(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    bus.publish(ev.ClientDisconnected("a", 1))
    bus.publish_all([ev.ClientDisconnected("a", 2), ev.ClientDisconnected("a", 3)])
    assert bus.flush()
    assert seen == [ev.ClientDisconnected("a", n) for n in (1, 2, 3)]


def test_unsubscribe_stops_delivery(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    unsubscribe = bus.subscribe(seen.extend)
    bus.record(CLIENT_GONE, "a", 1)
    assert bus.flush()
    unsubscribe()
    bus.record(CLIENT_GONE, "a", 2)
    assert bus.flush()
    assert [e.at_ns for e in seen] == [1]


def test_a_closed_bus_has_delivered_everything_and_stops() -> None:
    bus = EventBus()
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    for n in range(50):
        bus.record(CLIENT_GONE, "a", n)
    bus.close()
    assert len(seen) == 50
    bus.record(CLIENT_GONE, "a", 99)  # recording into a closed bus is harmless
    assert not bus.flush(0.05)
    assert len(seen) == 50


@pytest.mark.parametrize(("capacity", "max_bytes"), [(0, 1000), (10, 0)])
def test_bounds_must_be_positive(capacity: int, max_bytes: int) -> None:
    with pytest.raises(ValueError, match="at least one record and one byte"):
        EventBus(capacity=capacity, max_bytes=max_bytes)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_a_working_bus_and_new_exchange_ids(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    parent_id = ev.new_exchange_id()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its bus thread must run, and its ids must differ
        try:
            child_id = ev.new_exchange_id()
            bus.record(CLIENT_GONE, child_id, 1)
            ok = bus.flush(5)
            report = {"ok": ok, "ids": [e.exchange_id for e in seen], "child_id": child_id}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = json.load(pipe)
    os.waitpid(pid, 0)
    assert report["ok"] is True
    assert report["ids"] == [report["child_id"]]
    assert report["child_id"].split("-")[0] != parent_id.split("-")[0]
    bus.record(CLIENT_GONE, parent_id, 2)  # the parent's bus is unaffected
    assert bus.flush()
    assert [e.exchange_id for e in seen] == [parent_id]
