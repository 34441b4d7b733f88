"""The exchange list: every exchange of the store (or those the filter keeps), by start time.

A `VirtualList` over references into the `Store`, so 100,000 exchanges cost a Python list,
and the filter is kept as that list. Rows are ordered by when their request started (then by
arrival), not by when it reached the viewer: several workers each send in batches, so a
request can arrive after one that started later. `apply(new, touched)` folds a coalesced
batch in: new exchanges are appended (or merged in where they started, without moving the
reader's cursor), touched ones are re-tested because a filter on status or body can start or
stop matching as an exchange streams, and exchanges the store evicted leave the list.
"""

from __future__ import annotations

import functools
import heapq
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip

from inspector.events import RequestStarted
from inspector.observe.checks import findings
from inspector.observe.exchange import Exchange
from inspector.observe.pairing import is_app_side
from inspector.observe.store import Store
from tui.widgets.cells import clock, duration, is_replay, printable, size, status_cell
from tui.widgets.virtual_list import VirtualList

Filter = Callable[[Exchange], bool]

# name, width, justify; Path and Info (0) share what the others leave, see `_layout`.
_COLUMNS: tuple[tuple[str, int, str], ...] = (
    ("Time", 12, "left"),
    ("Source", 10, "left"),
    ("Method", 7, "left"),
    ("Path", 0, "left"),
    ("Code", 4, "right"),
    ("Duration", 9, "right"),
    ("Req", 9, "right"),
    ("Resp", 9, "right"),
    ("Info", 0, "left"),
)
_PATH, _INFO = 3, 8
# On a narrow terminal these columns go first, in this order, so the path keeps its room.
_DROP_ORDER = ("Req", "Info", "Time", "Resp", "Source")
_PATH_MIN = 24
_INFO_MIN, _INFO_MAX = 15, 40


@functools.lru_cache(maxsize=64)
def _layout(width: int, path_holds: int, info_holds: int) -> tuple[tuple[int, int, str], ...]:
    """(column index, width, justify) of the columns shown at this terminal width, when the
    widest path drawn takes `path_holds` cells and the widest info `info_holds`.

    Path and Info share what the other columns leave by what they hold: Info is as wide as
    its widest (up to `_INFO_MAX`), and at least `_INFO_MIN` while a path would be cut;
    Path takes the rest. A short path never keeps blank cells that a long error needs."""
    shown = list(range(len(_COLUMNS)))
    dropping = iter(_DROP_ORDER)

    def fixed() -> int:  # every shown column and the space before it, Path and Info at none,
        # the two flags on the left and a blank cell on the right, so text never meets the edge
        return sum(_COLUMNS[i][1] + 1 for i in shown) + 3

    def info_least() -> int:
        return _INFO_MIN if _INFO in shown else 0

    while width - fixed() - info_least() < _PATH_MIN:
        name = next(dropping, None)
        if name is None:
            break
        shown.remove(next(i for i, column in enumerate(_COLUMNS) if column[0] == name))
    room = width - fixed()
    info = 0
    if _INFO in shown:
        info = min(info_holds, _INFO_MAX, max(room - path_holds, _INFO_MIN))
    widths = {_PATH: max(room - info, 8), _INFO: info}
    return tuple((i, _COLUMNS[i][1] or widths[i], _COLUMNS[i][2]) for i in shown)


_METHOD_STYLE = {"GET": "cyan", "POST": "green", "PUT": "yellow", "PATCH": "yellow"}


def _matches(predicate: Filter, exchange: Exchange) -> bool:
    if is_app_side(exchange):  # its proxy exchange's row carries it (see `pairing`)
        return False
    try:
        return predicate(exchange)
    except Exception:  # a filter bug must not take the list down: the row is just not shown
        return False


class ExchangeList(VirtualList[Exchange]):
    DEFAULT_CSS = """
    ExchangeList { border: none; }
    """
    BINDINGS: ClassVar = []

    def __init__(
        self,
        store: Store,
        *,
        listening: str | None = None,
        saved: bool = False,
        id: str | None = None,
    ) -> None:
        """`listening`: the address apps send to, said while nothing is listed; `saved`: the
        exchanges come from a session file (see `InspectorApp`)."""
        super().__init__(id=id)
        self.store = store
        self.listening = listening
        self.saved = saved
        self.predicate: Filter | None = None
        self.marked: set[str] = set()
        self._keys: OrderedDict[str, tuple[float, int]] = OrderedDict()
        """Each listed exchange's place: (its start's wall-clock time, its arrival number),
        in the order they arrived, which is the order the store evicts them in."""
        self._arrived = 0
        self._latest = 0.0
        self._holds = _HEADER_HOLDS
        """Cells of the widest path and info drawn since the list was last reset or filtered:
        the columns only grow while rows pass, so they do not shift with every scroll."""

    # -- folding batches in ----------------------------------------------------------------------

    def _number(self, new: list[Exchange]) -> None:
        keys = self._keys
        for exchange in new:
            request = exchange.request
            if request is not None:  # wall time: the clock that workers on any host share
                self._latest = max(self._latest, request.wall_time)
                start = request.wall_time
            else:  # its start was lost upstream: it goes where it arrived
                start = self._latest
            keys[exchange.id] = (start, self._arrived)
            self._arrived += 1

    def _key(self, exchange: Exchange) -> tuple[float, int]:
        return self._keys[exchange.id]

    def apply(self, new: list[Exchange], touched: set[str]) -> None:
        self._drop_evicted()
        self._number(new)
        self._hide_paired()
        predicate = self.predicate
        if predicate is None:
            self._insert([exchange for exchange in new if not is_app_side(exchange)])
            self.refresh()
            return
        fresh = {exchange.id for exchange in new}
        shown = {exchange.id for exchange in self.rows} if touched - fresh else set()
        leaving: set[str] = set()
        arriving: list[Exchange] = []
        for xid in touched - fresh:
            exchange = self.store.get(xid)
            if exchange is None:
                continue
            if _matches(predicate, exchange) != (xid in shown):
                (leaving.add(xid) if xid in shown else arriving.append(exchange))
        matching = [exchange for exchange in new if _matches(predicate, exchange)]
        if leaving:
            keep = self.current
            kept = [exchange for exchange in self.rows if exchange.id not in leaving]
            arriving = sorted(arriving + matching, key=self._key)
            self.set_rows(list(heapq.merge(kept, arriving, key=self._key)), keep=keep)
        else:
            self._insert(arriving + matching)
        self.refresh()

    def _hide_paired(self) -> None:
        """An app's exchange just paired leaves the list: its proxy row shows it (⇄)."""
        indices = [
            i
            for exchange in self.store.repaired
            if is_app_side(exchange) and (i := self._find(exchange.id)) is not None
        ]
        if indices:
            self.remove_rows(sorted(indices))

    def _insert(self, new: list[Exchange]) -> None:
        """Add `new` rows where they started: at the end as a rule, merged in otherwise."""
        if not new:
            return
        key, rows = self._key, self.rows
        new.sort(key=key)
        if not rows or key(new[0]) > key(rows[-1]):
            self.extend(new)
            return
        start = bisect_right(rows, key(new[0]), key=key)
        merged = rows[:start]
        merged += heapq.merge(rows[start:], new, key=key)
        self.set_rows(merged, keep=self.current)

    def _drop_evicted(self) -> None:
        """The store evicts in arrival order: the exchanges that arrived first and are gone
        from it are the ones to drop, wherever their start time placed them."""
        keys, store = self._keys, self.store
        gone: list[str] = []
        for xid in keys:
            if xid in store:
                break
            gone.append(xid)
        if not gone:
            return
        indices = [i for xid in gone if (i := self._find(xid)) is not None]
        self.remove_rows(sorted(indices))
        for xid in gone:
            del keys[xid]
        self.marked.difference_update(gone)

    def _find(self, xid: str) -> int | None:
        key = self._keys.get(xid)
        if key is None:
            return None
        index = bisect_left(self.rows, key, key=self._key)
        return index if index < len(self.rows) and self.rows[index].id == xid else None

    def set_filter(self, predicate: Filter | None) -> None:
        keep = self.current
        if predicate is None:
            rows = [exchange for exchange in self.store if not is_app_side(exchange)]
        else:
            rows = [exchange for exchange in self.store if _matches(predicate, exchange)]
        rows.sort(key=self._key)  # nearly in order already: a linear pass, mostly
        self.predicate = predicate
        self._holds = _HEADER_HOLDS
        self.set_rows(rows, keep=keep)

    def reset(self) -> None:
        """Start over from the store's content (after a clear, or on mount)."""
        self._keys.clear()
        self._arrived = 0
        self._latest = 0.0
        self.marked.clear()
        self._number(list(self.store))
        self.follow = True
        self.set_filter(self.predicate)

    def index_of(self, row: Exchange) -> int | None:
        index = self._find(row.id)
        return index if index is not None and self.rows[index] is row else None

    def select(self, xid: str) -> bool:
        """The cursor onto `xid`'s row, which it then stays on (a replay's new row); False if
        it is not listed (the filter hides it)."""
        index = self._find(xid)
        if index is None:
            return False
        self.move_cursor(index)
        self.follow = False
        return True

    def toggle_mark(self) -> Exchange | None:
        exchange = self.target()
        if exchange is not None:
            self.marked.symmetric_difference_update({exchange.id})
            self.refresh()
        return exchange

    # -- rendering -------------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # Measure the rows about to be drawn first, so every line of a frame has one layout.
        top = int(self.scroll_y)
        path, info = self._holds
        for row in self.rows[top : top + self.size.height]:
            if row.request is not None:
                path = max(path, cell_len(_shown(_path(row.request))))
            info = max(info, cell_len(_shown(_info(row)[0])))
        if (path, info) != self._holds:
            self._holds = (path, info)
            self.refresh()  # lines outside `crop` were drawn with the narrower layout
        return super().render_lines(crop)

    def empty_lines(self) -> list[Text]:
        """Why the list is empty, and what would fill it."""
        store = self.store
        if len(store) and self.predicate is not None:
            return [Text(f"No exchange of the {len(store):,} matches {self.predicate}.", "bold")]
        if self.saved:
            return [Text("This saved session holds no exchanges.", "bold")]
        lines = [Text("No exchanges yet.", "bold")]
        if self.listening is not None:
            lines.append(
                Text.assemble(
                    f"Listening on {self.listening}. To connect an app, wrap it in ",
                    ("ASGIInspectorMiddleware", "bold cyan"),
                    " (or ",
                    ("WSGIInspectorMiddleware", "bold cyan"),
                    ") from inspector and start it with ",
                    (f"INSPECTOR_BUS={self.listening}", "bold cyan"),
                )
            )
        workers = sorted(str(store.origins[prefix]) for prefix in store.connected)
        if workers:
            lines.append(Text(f"Connected, waiting for a first request: {', '.join(workers)}"))
        elif self.listening is not None:
            lines.append(Text("No app is connected.", "dim"))
        return lines

    def render_header(self, width: int) -> Text:
        cells = [(name, "") for name, _, _ in _COLUMNS]
        return self._line("  ", cells, width)

    def render_row(self, row: Exchange, index: int, width: int) -> Text:
        second = "↻" if is_replay(row) else "⇄" if row.pair is not None else " "
        flags = ("●" if row.id in self.marked else " ") + second
        request = row.request
        if request is None:  # its first events were lost (dropped upstream)
            return Text(f"{flags} {printable(row.id)}  (request not captured)", style="dim")
        origin = self.store.origin(row.id)
        # The pid tells workers apart; the name is in the detail view.
        source = request.source if origin is None else f"{request.source} {origin.pid}"
        status, status_style = status_cell(row)
        cells = [
            (clock(request.wall_time), "dim"),
            (source, "dim"),
            (request.method, _METHOD_STYLE.get(request.method, "magenta")),
            (_path(request), ""),
            (status, status_style),
            (duration(row.duration_ns), ""),
            (size(row.request_body.size) if row.request_body.size else "", "dim"),
            (size(row.response_body.size) if row.response_body.size else "", ""),
            _info(row),
        ]
        return self._line(flags, cells, width)

    def _line(self, flags: str, cells: list[tuple[str, str]], width: int) -> Text:
        line = Text(no_wrap=True)
        line.append(flags, "bold yellow")
        for index, column_width, justify in _layout(width, *self._holds):
            value, style = cells[index]
            line.append(" ")
            line.append(_fit(value, column_width, justify), style)
        line.append(" ")
        return line


_HEADER_HOLDS = (len("Path"), len("Info"))


def _path(request: RequestStarted) -> str:
    return request.path + ("?" + request.query.decode("latin-1") if request.query else "")


def _fit(value: str, width: int, justify: str) -> str:
    """`value` made safe and exactly `width` cells wide (a CJK character takes two)."""
    value = _shown(value)
    cells = cell_len(value)
    if cells > width:
        return set_cell_size(value, width - 1) + "…"
    pad = " " * (width - cells)
    return pad + value if justify == "right" else value + pad


def _shown(value: str) -> str:
    return printable(value).replace("\t", " ")


def _info(exchange: Exchange) -> tuple[str, str]:
    """The state (or a WebSocket's message counts, or the error), after a `⚠N` badge when the
    spec checks found N mistakes (the Checks tab of the detail says which)."""
    text, style = _state(exchange)
    found = len(findings(exchange))
    if not found:
        return text, style
    return f"⚠{found} {text}".rstrip(), style or "yellow"


def _state(exchange: Exchange) -> tuple[str, str]:
    state = exchange.state
    if exchange.is_websocket:
        counts = exchange.message_counts
        style = "green" if state == "open" else "dim"
        return f"↑{counts['client']} ↓{counts['server']} {state}", style
    if exchange.error is not None:
        return exchange.error.type, "red"
    if state == "completed":
        pair = exchange.pair
        if pair is not None:  # the app's record travels with this row
            app = pair.app.request
            source = app.source if app is not None else "app"
            return f"⇄ {source}" + (" by content" if pair.how == "content" else ""), "cyan"
        return ("unpaired", "dim yellow") if exchange.unpaired else ("", "")
    return state, "yellow" if state in ("streaming", "pending") else "red"
