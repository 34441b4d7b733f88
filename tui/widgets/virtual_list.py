"""A virtual list: a cursor over a Python list of rows, rendering only the lines on screen.

The exchange list, the WebSocket messages and the event timeline all show up to 100,000 rows
that grow while they are on screen, so none of them can afford a widget per row or a
`DataTable` (which builds every row). `VirtualList` keeps the rows as a plain list, a fixed
header line, a cursor and a follow mode: while the cursor sits on the last row, new rows move
it along; moving up stops following; `end` resumes. Subclasses say how a row renders.

A key that acts on a row acts on the row the reader saw under the cursor when they pressed it
(`target`), not on one that following moved the cursor to before the key was handled: the
list remembers when the cursor was drawn on which row, and each key notes the row of its
moment.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

T = TypeVar("T")


class VirtualList(ScrollView, Generic[T], can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-list--header",
        "virtual-list--cursor",
        "virtual-list--cursor-blurred",
    }
    DEFAULT_CSS = """
    VirtualList { height: 1fr; overflow-x: hidden; }
    VirtualList > .virtual-list--header { text-style: bold; color: $text-muted; }
    VirtualList > .virtual-list--cursor { background: $block-cursor-background; }
    VirtualList > .virtual-list--cursor-blurred { background: $block-cursor-blurred-background; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Follow", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    class Selected(Message):
        """Enter (or a click on the cursor row) chose a row."""

        def __init__(self, source: VirtualList[object], index: int) -> None:
            super().__init__()
            self.source = source
            self.index = index

    class CursorMoved(Message):
        def __init__(self, source: VirtualList[object], index: int) -> None:
            super().__init__()
            self.source = source
            self.index = index

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[T] = []
        self.cursor = -1
        self.follow = True
        self._seen: deque[tuple[float, T]] = deque(maxlen=8)
        """(when, row): the rows the cursor was drawn on lately, oldest first."""
        self._pressed: T | None = None
        """The row under the cursor when the key being handled was pressed."""

    # -- what subclasses provide -----------------------------------------------------------------

    def render_header(self, width: int) -> Text:
        return Text()

    def render_row(self, row: T, index: int, width: int) -> Text:
        raise NotImplementedError

    def empty_lines(self) -> list[Text]:
        """What to say while there are no rows: paragraphs, wrapped to the width."""
        return []

    # -- rows ------------------------------------------------------------------------------------

    @property
    def current(self) -> T | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def set_rows(self, rows: list[T], keep: T | None = None) -> None:
        """Replace all rows; the cursor stays on `keep` if it is still there, on the same
        line of the screen (rows inserted or removed above it move the view with it)."""
        before = self.cursor
        self.rows = rows
        if self.follow or not rows:
            self.cursor = len(rows) - 1
        elif keep is not None and (found := self.index_of(keep)) is not None:
            self.cursor = found
        else:
            self.cursor = min(max(self.cursor, 0), len(rows) - 1)
        self._rows_changed(shift=self.cursor - before)

    def index_of(self, row: T) -> int | None:
        """Where `row` is, by identity (rows may be dataclasses whose `==` is costly)."""
        return next((i for i, r in enumerate(self.rows) if r is row), None)

    def extend(self, rows: Sequence[T]) -> None:
        if not rows:
            return
        self.rows.extend(rows)
        if self.follow:
            self.cursor = len(self.rows) - 1
        self._rows_changed()

    def remove_rows(self, indices: Sequence[int]) -> None:
        """Forget the rows at `indices` (ascending; evicted upstream): the cursor keeps its
        row on the same line of the screen, or takes the next row if its own went."""
        if not indices:
            return
        rows = self.rows
        if indices[-1] == len(indices) - 1:  # the oldest rows, as eviction mostly takes
            del rows[: len(indices)]
        else:
            gone = set(indices)
            self.rows = rows = [row for i, row in enumerate(rows) if i not in gone]
        before = self.cursor
        if self.follow or not rows:
            self.cursor = len(rows) - 1
        else:
            self.cursor = min(before - bisect_left(indices, before), len(rows) - 1)
        self._rows_changed(shift=self.cursor - before)

    def _rows_changed(self, shift: int = 0) -> None:
        """`shift`: how far the cursor's row moved in the list; the view moves as far."""
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
        elif shift:
            self.scroll_to(y=max(self.scroll_y + shift, 0), animate=False, force=True)
        self.refresh()

    # -- cursor ----------------------------------------------------------------------------------

    def move_cursor(self, index: int) -> None:
        """The reader moves the cursor: every key from now on means the row it lands on."""
        self._pressed = None
        if not self.rows:
            return
        index = min(max(index, 0), len(self.rows) - 1)
        self.follow = index == len(self.rows) - 1
        if index != self.cursor:
            self.cursor = index
            self.post_message(self.CursorMoved(self, index))  # type: ignore[arg-type]
        self._seen.clear()
        self._seen.append((-math.inf, self.rows[index]))
        self._scroll_to_cursor()
        self.refresh()

    def target(self) -> T | None:
        """The row a key acts on: the one under the cursor when the key was pressed, even if
        following has moved the cursor since (a user copied a WebSocket upgrade that had just
        arrived instead of the request they were looking at). Acting on a row stops
        following, with the cursor back on that row if it is still listed."""
        row = self._pressed if self._pressed is not None else self.current
        self._pressed = None
        if row is None:
            return None
        index = self.index_of(row)
        if index is not None:
            self.move_cursor(index)
        self.follow = False
        return row

    def on_key(self, event: events.Key) -> None:
        # Runs before the key's binding, which the app handles once the key has bubbled up to
        # it: a batch of rows folded in between may move a following cursor.
        self._pressed = self._seen_at(event.time)

    def _seen_at(self, moment: float) -> T | None:
        """The row the cursor was last drawn on at `moment` (Textual stamps events with
        `time.monotonic` on POSIX); None if it was not drawn then."""
        for when, row in reversed(self._seen):
            if when <= moment:
                return row
        return None

    def _scroll_to_cursor(self) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, force=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, force=True)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * max(self.size.height - 2, 1))

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self.rows) - 1)
        self.follow = True

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.Selected(self, self.cursor))  # type: ignore[arg-type]

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.rows):
            if index == self.cursor and event.chain > 1:
                self.action_select()
            self.move_cursor(index)

    def on_resize(self) -> None:
        self._rows_changed()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self._pressed = None
        self.refresh()

    # -- rendering -------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            header = self.render_header(width)
            style = self.get_component_rich_style("virtual-list--header")
            return self._strip(header, width, base + style)
        index = int(self.scroll_y) + y - 1
        if not self.rows and 0 < index <= len(lines := self._empty(width)):
            return self._strip(lines[index - 1], width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        if index == self.cursor:
            name = "virtual-list--cursor" if self.has_focus else "virtual-list--cursor-blurred"
            base = base + self.get_component_rich_style(name)
            if not self._seen or self._seen[-1][1] is not row:
                self._seen.append((time.monotonic(), row))
        return self._strip(self.render_row(row, index, width), width, base)

    def _empty(self, width: int) -> list[Text]:
        lines: list[Text] = []
        for paragraph in self.empty_lines():
            lines += (Text(" ") + line for line in paragraph.wrap(self.app.console, width - 2))
        return lines

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.no_wrap = True
        text.overflow = "ellipsis"
        text.truncate(width, overflow="ellipsis", pad=True)
        segments = [
            Segment(s.text, style + s.style if s.style else style, s.control)
            for s in text.render(self.app.console)
        ]
        return Strip(segments).crop_extend(0, width, style)
