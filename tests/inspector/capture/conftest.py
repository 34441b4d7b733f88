"""Fixtures shared by the in-process capture tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inspector import EventBus
from inspector import events as ev


@pytest.fixture
def bus() -> Iterator[EventBus]:
    bus = EventBus()
    yield bus
    bus.close()


def collect(bus: EventBus) -> list[ev.Event]:
    seen: list[ev.Event] = []
    bus.subscribe(seen.extend)
    return seen
