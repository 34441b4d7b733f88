"""A bus whose events go to the file named by INSPECTOR_TEST_EVENTS, one JSON line each."""

from __future__ import annotations

import os
from collections.abc import Sequence

from inspector import EventBus, codec
from inspector.events import Event


def recording_bus() -> EventBus:
    bus = EventBus()
    path = os.environ.get("INSPECTOR_TEST_EVENTS")
    if path:

        def write(events: Sequence[Event]) -> None:
            with open(path, "ab") as file:
                file.write(codec.dump_lines(events))

        bus.subscribe(write)
    return bus
