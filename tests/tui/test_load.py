"""100,000 exchanges fed from a thread in batches: keys are handled while events keep arriving,
nothing is lost, the reader's row does not move, and filtering the lot works."""

from __future__ import annotations

import threading
import time

from tests.tui.pilot import SIZE, until
from tui.app import InspectorApp
from tui.scenarios import many

COUNT = 100_000


async def test_100k_exchanges_stay_responsive() -> None:
    app = InspectorApp()
    batches = list(many(COUNT, batch=1000))  # built up front: the feeder only feeds
    total = sum(map(len, batches))
    stop = threading.Event()

    def feed() -> None:
        for batch in batches:
            if stop.is_set():
                return
            app.feed(batch)
            time.sleep(0.02)  # a steady stream of ~200,000 events/s for two seconds, not one lump

    async with app.run_test(size=SIZE) as pilot:
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        rows = app.exchanges.list
        try:
            await until(pilot, lambda: len(rows.rows) >= 5_000, 1000)
            await pilot.press("up")
            assert not rows.follow, "the key was handled"
            assert app.store.events_seen < total, "...while events were still arriving"
            held = rows.current
            await pilot.press("f")
            assert app.exchanges.filter_bar.has_class("-open")
            await pilot.press("escape")
            await until(pilot, lambda: app.store.events_seen == total, 3000)  # all folded in
        finally:
            stop.set()
            feeder.join()
        assert len(rows.rows) == COUNT
        assert rows.current is held
        assert f"{COUNT:,}/{COUNT:,} shown" in str(app.exchanges.status_bar.render())
        assert app.exchanges.filter_bar.apply("~c 404")
        await pilot.pause()
        assert len(rows.rows) == len(range(0, COUNT, 7))
        await pilot.press("end")
        assert rows.current is rows.rows[-1]
        assert rows.current.id == "load-99995"
