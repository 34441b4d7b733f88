"""`Outputs`: where an observer's events go: the viewer, the headless log, a session file.

Called on the collector's loop thread with each batch of events; each output gets them in
order. A session that cannot be written (a full disk) costs only the events it could not
save: counted, said once on stderr or in the viewer, and saving resumes by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from inspector import events as ev
from inspector.observe.session import SessionWriter, redactor
from inspector.observe.store import Store

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from inspector.observe.apps import LoadedApp
    from tui.app import InspectorApp
    from tui.otlp import OtlpOutput

Output = Callable[[Sequence[ev.Event]], None]
AHEAD = 4
"""Batches of a saved session fed to the viewer and not yet folded in, at most: enough for
each fold (five a second at most) to take several, few enough to hold little besides the
store."""


class Outputs:
    """What a command does with events: save them, print them, show them. Called with each
    batch on the event loop's thread; an output that raises is counted, the others still run.

    `reading`: the events come from a saved session, not from live traffic: the headless log
    then waits for a slow reader instead of dropping lines. A session file that cannot be
    written (a full disk) is said once when it starts and once when saving resumes, with the
    count of events lost: on stderr, or in the viewer while it runs; and again at exit."""

    def __init__(self, args: argparse.Namespace, *, reading: bool = False) -> None:
        self.outputs: list[Output] = []
        self.errors = 0
        self.writer: SessionWriter | None = None
        self.console: Any = None
        self.app: InspectorApp | None = None
        """The viewer, while it runs."""
        self._lost_before = 0
        if getattr(args, "save", None):
            self.writer = SessionWriter(args.save, redactor(args.redact))
            self.outputs.append(self._save)
        self.headless = bool(args.no_tui)
        if self.headless:
            from tui.console import ConsoleLog

            filter_text = getattr(args, "filter", None) or ""
            self.console = ConsoleLog(filter_text=filter_text, wait=reading)
            self.outputs.append(self.console)
        self.store_limits = (args.store_exchanges, args.store_mib << 20)
        self.otlp: OtlpOutput | None = None
        if getattr(args, "otlp", None):
            from tui.otlp import OtlpOutput

            self.otlp = OtlpOutput(args, self._tell_otlp)
            self.outputs.append(self.otlp)

    def __call__(self, events: Sequence[ev.Event]) -> None:
        for output in self.outputs:
            try:
                output(events)
            except Exception as exc:
                self.errors += 1
                if self.errors == 1:
                    print(f"inspector: an output failed: {exc!r}", file=sys.stderr)

    def _save(self, events: Sequence[ev.Event]) -> None:
        writer = self.writer
        assert writer is not None
        failing = writer.failure is not None
        writer(events)
        if writer.failure is not None and not failing:
            self._lost_before = writer.lost - len(events)
            reason = writer.failure.strerror or str(writer.failure)
            self._say(
                f"cannot save to {writer.path}: {reason}; events are counted, not saved, "
                "until it can write again",
                note=f"NOT SAVING: {reason}",
                severity="error",
            )
        elif failing and writer.failure is None:
            lost = writer.lost - self._lost_before
            self._say(
                f"saving to {writer.path} again; {_not_saved(lost)}",
                note=f"{writer.lost:,} {'event' if writer.lost == 1 else 'events'} not saved",
                severity="warning",
            )

    def _say(self, message: str, *, note: str, severity: SeverityLevel) -> None:
        """Tell the user: in the viewer while it runs (it owns the terminal), else on stderr."""
        if self.app is not None and self.app.is_running:
            self.app.saving_trouble(message, note=note, severity=severity)
        else:
            print(f"inspector: {message}", file=sys.stderr, flush=True)

    def _tell_otlp(self, message: str) -> None:
        """The OTLP backend went down or came back (said from the sender's thread)."""
        app = self.app
        if app is not None and app.is_running:
            app.tell(message, title="OTLP", severity="warning")  # thread-safe, as notify
        else:
            print(f"inspector: {message}", file=sys.stderr, flush=True)

    async def run(
        self,
        title: str,
        subtitle: str,
        peers: Callable[[], int] | None = None,
        replay_base: str | None = None,
        session: Iterator[list[ev.Event]] | None = None,
        listening: str | None = None,
        log_path: str | None = None,
        control: str | None = None,
        replay_app: LoadedApp | None = None,
    ) -> None:
        """Show the viewer until it quits, or (headless) wait until interrupted. With a saved
        `session` (batches of events), take it in; headless, return once it is printed."""
        if self.headless:
            if session is None:
                await asyncio.Event().wait()
            for batch in session or ():
                self(batch)
                if self.console.writer.broken:  # `| head`: nobody reads any more
                    break
            return
        app = self.viewer(
            title,
            subtitle,
            peers,
            replay_base,
            saved=session is not None,
            listening=listening,
            log_path=log_path,
            control=control,
            replay_app=replay_app,
        )
        loading = None if session is None else task(self.load(app, session))
        try:
            await app.run_async()
        finally:
            self.app = None
            if loading is not None:
                loading.cancel()
        if loading is not None and loading.done() and not loading.cancelled():
            loading.result()  # a session that could not be read to its end (an I/O error)

    def viewer(
        self,
        title: str,
        subtitle: str,
        peers: Callable[[], int] | None = None,
        replay_base: str | None = None,
        *,
        saved: bool = False,
        listening: str | None = None,
        log_path: str | None = None,
        control: str | None = None,
        replay_app: LoadedApp | None = None,
    ) -> InspectorApp:
        """The viewer: fed every batch from now on, and told when saving fails or resumes."""
        from tui.app import InspectorApp

        store = Store(*self.store_limits)
        app = InspectorApp(
            store,
            title=title,
            subtitle=subtitle,
            peers=peers,
            replay_base=replay_base,
            listening=listening,
            saved=saved,
            log_path=log_path,
            control=control,
            replay_app=replay_app,
        )
        self.outputs.append(app.feed)
        self.app = app
        if self.otlp is not None:
            app.otlp_status = self.otlp.status
        return app

    async def load(self, app: InspectorApp, session: Iterator[list[ev.Event]]) -> None:
        """Feed a saved session to the viewer at the pace it folds it in: at most `AHEAD`
        batches wait to be folded into the store (which evicts its oldest past its limits).
        So memory holds the store and a few batches, whatever the size of the file; paused,
        the viewer folds nothing and nothing more is read. Batches are read on the viewer's
        loop (each a few tens of milliseconds), which runs between any two."""
        seen = app.store.events_seen
        ends: deque[int] = deque()  # where each batch fed, and not yet folded in, ends
        fed = 0
        try:
            for batch in session:
                self(batch)
                fed += len(batch)
                ends.append(fed)
                await asyncio.sleep(0)
                while len(ends) >= AHEAD:
                    if ends[0] <= app.store.events_seen - seen:
                        ends.popleft()
                    else:
                        await asyncio.sleep(0.02)
        except Exception as exc:
            app.tell(f"could not read further: {exc}", title="Session", severity="error")
            raise

    def close(self) -> None:
        if self.console is not None:
            self.console.close()
        if self.otlp is not None:
            print(f"inspector: {self.otlp.close()}", file=sys.stderr, flush=True)
        writer = self.writer
        if writer is not None:
            writer.close()
            if writer.lost:
                print(f"inspector: {_not_saved(writer.lost)} to {writer.path}", file=sys.stderr)


def _not_saved(count: int) -> str:
    return "1 event was not saved" if count == 1 else f"{count:,} events were not saved"


def task(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[None]:
    return asyncio.ensure_future(coroutine)
