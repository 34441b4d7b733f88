"""The status bar above the key footer (live or paused, workers, counts, drops, evictions and
capture errors), and the key footer itself.

The status bar reads the app's state when told to (after each coalesced batch) and once a
second for the number of connected workers, which changes without any event.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.widgets import Footer, Static


@dataclass(frozen=True, slots=True)
class Status:
    paused: bool
    held: int
    discarded: int
    shown: int
    total: int
    marked: int
    dropped: int
    evicted: int
    workers: int | None
    filter_text: str
    following: bool
    forgotten: int = 0
    """Late events of exchanges already evicted or cleared, which the store dropped."""
    saved: bool = False
    """The exchanges come from a session file: nothing live, nothing to pause."""
    capture_errors: int = 0
    """`CaptureFailed` events: capture went wrong in an app or the proxy, or the observer
    could not read a record."""
    overhead: float | None = None
    """Capture's own time as a share of the app's time, over recent exchanges."""
    otlp: str = ""
    """`--otlp`: spans sent, exchanges dropped, the backend down."""


def status_text(status: Status) -> Text:
    text = Text()
    if status.saved:
        text.append(" ■ SAVED ", "bold reverse blue")
        text.append(" session", "dim")
    elif status.paused:
        text.append(" ⏸ PAUSED ", "bold reverse yellow")
        text.append(f" {status.held:,} events held", "yellow")
        if status.discarded:
            text.append(f", {status.discarded:,} discarded", "bold red")
    else:
        text.append(" ● LIVE ", "bold reverse green")
        text.append(" following" if status.following else " scrolled", "dim")
        if status.discarded:
            text.append(f"  {status.discarded:,} discarded while paused", "bold red")
    if status.workers is not None:
        text.append(f"  workers {status.workers}")
    text.append(f"  {status.shown:,}/{status.total:,} shown")
    if status.marked:
        text.append(f"  ● {status.marked:,} marked", "yellow")
    text.append(f"  dropped {status.dropped:,}", "bold red" if status.dropped else "dim")
    text.append(f"  evicted {status.evicted:,}", "yellow" if status.evicted else "dim")
    if status.forgotten:
        text.append(f"  forgotten {status.forgotten:,}", "yellow")
    if status.capture_errors:
        errors = status.capture_errors
        text.append(f"  {errors:,} capture error{'s' * (errors != 1)}", "yellow")
    if status.overhead is not None:
        text.append("  capture ", "dim")
        text.append(f"{status.overhead:.1%}", "magenta")
        text.append(" of app time", "dim")
    if status.otlp:
        trouble = "dropped" in status.otlp or "down" in status.otlp
        text.append(f"  {status.otlp}", "yellow" if trouble else "dim")
    if status.filter_text:
        text.append("  filter ", "dim")
        text.append(status.filter_text, "bold cyan")
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; }
    """

    def show(self, status: Status) -> None:
        self.update(status_text(status))


class KeyFooter(Footer):
    """Textual's key footer, tighter on a narrow terminal: compact, and without the command
    palette's key (the help lists it), so that 80 columns show every key of the list."""

    NARROW = 100

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < self.NARROW
        if narrow != self.compact:
            self.compact = narrow
            self.show_command_palette = not narrow
            self.call_after_refresh(self.recompose)
