"""The in-process bus: ordering across threads, exact drop counts, isolation, fork safety."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence

import pytest

from inspector import EventBus
from inspector import events as ev


@pytest.fixture
def bus() -> Iterator[EventBus]:
    bus = EventBus(capacity=10_000)
    yield bus
    bus.close()


def disconnect(xid: str, n: int) -> ev.ClientDisconnected:
    return ev.ClientDisconnected(xid, n)


def test_events_from_many_threads_all_arrive_in_each_threads_order(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)

    def produce(name: str) -> None:
        for n in range(300):
            bus.record(ev.ClientDisconnected, name, n)

    threads = [threading.Thread(target=produce, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert bus.flush()
    for i in range(4):
        assert [e.at_ns for e in seen if e.exchange_id == f"t{i}"] == list(range(300))
    assert bus.stats().delivered == 1200
    assert bus.stats().dropped == 0


def test_a_full_queue_drops_the_oldest_and_says_how_many() -> None:
    bus = EventBus(capacity=10)
    release = threading.Event()
    batches: list[list[ev.Event]] = []

    def slow(events: Sequence[ev.Event]) -> None:
        batches.append(list(events))
        release.wait(5)

    bus.subscribe(slow)
    bus.record(ev.ClientDisconnected, "first", 0)
    while not batches:  # the bus thread is now stuck in the slow subscriber
        threading.Event().wait(0.001)
    for n in range(1, 101):
        bus.record(ev.ClientDisconnected, "x", n)
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
    bus.publish(disconnect("a", 1))
    bus.publish(disconnect("a", 2))
    assert bus.flush()
    assert [e.at_ns for e in seen] == [1, 2]
    stats = bus.stats()
    assert stats.subscriber_errors >= 1
    assert stats.last_error is not None
    assert "subscriber bug" in stats.last_error


def test_a_failing_factory_becomes_a_capture_failed_event(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    bus.record(ev.ClientDisconnected, "a")  # missing an argument: fails on the bus thread
    bus.record(ev.ClientDisconnected, "a", 7)
    assert bus.flush()
    assert isinstance(seen[0], ev.CaptureFailed)
    assert "ClientDisconnected" in seen[0].error
    assert seen[1] == ev.ClientDisconnected("a", 7)
    assert bus.stats().capture_errors == 1


def test_unsubscribe_stops_delivery(bus: EventBus) -> None:
    seen: list[ev.Event] = []
    unsubscribe = bus.subscribe(seen.extend)
    bus.publish(disconnect("a", 1))
    assert bus.flush()
    unsubscribe()
    bus.publish(disconnect("a", 2))
    assert bus.flush()
    assert [e.at_ns for e in seen] == [1]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        EventBus(capacity=0)


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
            bus.record(ev.ClientDisconnected, child_id, 1)
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
