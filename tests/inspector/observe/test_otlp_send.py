"""`SpanSender` against a real endpoint that is slow, down, or back: `put` never waits for it,
the loss is counted exactly, and a backend that is down is said once, and once when back."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind

from inspector.observe.otlp_send import SpanSender, traces_endpoint
from tests.otlp_backend import Backend, backend, down_url


def build(items: Sequence[int]) -> list[ReadableSpan]:
    return [
        ReadableSpan(f"span {n}", context=SpanContext(1, n + 1, False), kind=SpanKind.SERVER)
        for n in items
    ]


def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for something the sender's thread does (a guard against a hang, not a timing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.01)


def test_the_endpoint_gets_the_signal_path_once() -> None:
    assert traces_endpoint("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_endpoint("http://c:4318/") == "http://c:4318/v1/traces"
    assert traces_endpoint("https://c/v1/traces") == "https://c/v1/traces"


def test_a_slow_backend_never_holds_up_put_and_the_oldest_are_dropped_and_counted() -> None:
    reports: list[str] = []
    with backend() as slow:
        slow.hold()
        sender = SpanSender(slow.url, build, reports.append, capacity=10)
        sender.put(0)
        until(slow.arrived.is_set)  # the sender's thread now waits on the backend
        for n in range(1, 101):
            sender.put(n)  # returns at once: the queue is bounded, drop-oldest
        stats = sender.stats()
        assert stats.dropped == 90
        assert stats.waiting == 11  # the batch in flight and the 10 newest
        slow.release()
        stats = sender.close(timeout=20)
        names = sorted(s.span.name for s in slow.spans(11))
    assert names == sorted(["span 0", *(f"span {n}" for n in range(91, 101))])
    assert (stats.sent, stats.dropped, stats.waiting) == (11, 90, 0)
    assert reports == []  # slow is not down


def test_a_down_backend_is_said_once_and_again_when_it_is_back() -> None:
    reports: list[str] = []
    url = down_url()
    sender = SpanSender(url, build, reports.append, capacity=10, timeout=0.2)
    sender.put(0)
    until(lambda: sender.attempts >= 2)  # refused, backed off, refused again
    for n in range(1, 51):
        sender.put(n)
    assert sender.stats().down
    assert sender.stats().dropped == 40
    (said,) = reports
    assert said.startswith(f"OTLP: cannot send spans to {url}/v1/traces: ")
    assert "retrying with backoff, keeping at most 10 exchanges" in said
    port = urlsplit(url).port
    assert port is not None
    back = Backend(port)
    try:
        until(lambda: len(back.spans()) == 11, timeout=60)  # backoff: 1 s, 2 s, 4 s...
        until(lambda: len(reports) == 2)
        stats = sender.close()
    finally:
        back.close()
    assert reports[1] == (
        f"OTLP: sending spans to {url}/v1/traces again; 40 exchanges dropped meanwhile"
    )
    assert (stats.sent, stats.dropped, stats.down) == (11, 40, False)


def test_closing_with_the_backend_down_counts_what_was_not_sent() -> None:
    sender = SpanSender(down_url(), build, lambda _: None, capacity=10, timeout=0.2)
    for n in range(5):
        sender.put(n)
    stats = sender.close(timeout=2)
    assert (stats.sent, stats.dropped, stats.waiting) == (0, 5, 0)
