"""What the viewer's Pilot tests share: the terminal size and polling for a condition."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

SIZE = (120, 36)


async def until(pilot: Pilot[None], condition: Callable[[], bool], tries: int = 500) -> None:
    """Let the app run until `condition` holds (10 ms a try); fail if it never does."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition not met in time")
