"""The store: the exchanges a viewer holds, folded from events, bounded by count and by bytes.

Exchanges stay in arrival order (the order their first event arrived). Past `max_exchanges`
or `max_bytes` (captured body and message bytes plus a fixed cost per exchange) the oldest
exchanges are evicted and counted. The store also remembers where events came from: each
process draws its own exchange-id prefix, and a collector tells the store which process
(`Origin`) owns a prefix.

Not thread-safe: one thread (the UI's, or the collector's) owns a store.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from inspector import events as ev
from inspector.observe.exchange import Exchange
from inspector.observe.pairing import Pairing

DEFAULT_MAX_EXCHANGES = 100_000
_FORGET_AT_MOST = 100_000
DEFAULT_MAX_BYTES = 1 << 30
_EXCHANGE_COST = 2048
_EVENT_COST = 1536
"""What an exchange and each of its events hold besides captured bodies (objects, headers,
the scope snapshot), in bytes: measured as ~10.8-11.4 KiB of RSS per 5-event exchange with
a 1 KiB body (measured with the collector benchmark of November 2026), which these reproduce
within 10%."""


@dataclass(frozen=True, slots=True)
class Origin:
    """One process feeding the store: where a worker's exchanges came from."""

    host: str
    pid: int
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name}[{self.pid}]" if self.name else f"pid {self.pid}"


def prefix_of(exchange_id: str) -> str:
    """The per-process part of an exchange id (see `events.new_exchange_id`)."""
    return exchange_id.rpartition("-")[0]


_WITH_DATA = frozenset({ev.RequestBodyChunk, ev.ResponseBodyChunk, ev.ResponseBodyWritten})


def _cost(event: ev.Event) -> int:
    """The captured bytes an event holds in memory (one type lookup: this runs for every
    event). A body piece is held twice: by its event, and by the exchange's body it is
    appended to (`Body.data`); a WebSocket message once (the exchange lists the event)."""
    kind = type(event)
    if kind in _WITH_DATA:
        return 2 * len(event.data)  # type: ignore[attr-defined]
    if kind is ev.WebSocketMessage:
        text, data = event.text, event.data  # type: ignore[attr-defined]
        return len(text) if text is not None else len(data or b"")
    return 0


class Store:
    def __init__(
        self,
        max_exchanges: int = DEFAULT_MAX_EXCHANGES,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if max_exchanges < 1 or max_bytes < 1:
            raise ValueError("a store holds at least one exchange and one byte")
        self.max_exchanges = max_exchanges
        self.max_bytes = max_bytes
        # OrderedDicts: dropping the oldest is O(1) there, while `next(iter(dict))` walks
        # every slot a dict has emptied at its front (30 us per eviction at 100,000).
        self._exchanges: OrderedDict[str, Exchange] = OrderedDict()
        self._costs: dict[str, int] = {}
        self.bytes = 0
        self.origins: dict[str, Origin] = {}
        self._connections: Counter[str] = Counter()
        self._forgotten: OrderedDict[str, None] = OrderedDict()
        """Ids evicted or cleared, newest last (bounded): their late events are dropped."""
        self.forgotten = 0
        """Late events of forgotten exchanges, dropped."""
        self.evicted = 0
        """Exchanges dropped to stay within bounds."""
        self.events_dropped = 0
        """Events that capture points or sinks reported as dropped (`EventsDropped`)."""
        self.capture_failures = 0
        """`CaptureFailed` events: capture went wrong, or the observer could not read a record."""
        self.events_seen = 0
        self.capture_cost = [0.0, 0.0]
        """Capture's own time and the app's time of recent exchanges that measured it, in ns,
        each an average that halves an exchange's weight about every 70 exchanges: their
        ratio is the live overhead the status bar shows."""
        self.pairing = Pairing()
        """Pairs the proxy's and the app's exchange of one request (see `pairing`)."""
        self.repaired: list[Exchange] = []
        """The exchanges whose pairing changed in the last `add` (also in its touched ids)."""

    def __len__(self) -> int:
        return len(self._exchanges)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self._exchanges.values())

    def __contains__(self, exchange_id: object) -> bool:
        return exchange_id in self._exchanges

    def get(self, exchange_id: str) -> Exchange | None:
        return self._exchanges.get(exchange_id)

    def origin(self, exchange_id: str) -> Origin | None:
        return self.origins.get(prefix_of(exchange_id))

    def add(self, events: Iterable[ev.Event]) -> tuple[list[Exchange], set[str]]:
        """Fold `events` in. Returns the exchanges that are new, and the ids of all touched."""
        exchanges, costs = self._exchanges, self._costs
        new: list[Exchange] = []
        touched: set[str] = set()
        added = 0  # bytes, summed here rather than on the store per event
        for event in events:
            self.events_seen += 1
            kind = type(event)
            if kind is ev.CaptureFailed:
                self.capture_failures += 1
            elif kind is ev.ExchangeFinished and event.capture_ns is not None:  # type: ignore[attr-defined]
                recent = self.capture_cost
                recent[0] = recent[0] * 0.99 + event.capture_ns  # type: ignore[attr-defined]
                recent[1] = recent[1] * 0.99 + event.total_ns  # type: ignore[attr-defined]
            xid = event.exchange_id
            if not xid:
                self._note(event)
                continue
            exchange = exchanges.get(xid)
            if exchange is None:
                if xid in self._forgotten:  # evicted or cleared: no half exchange comes back
                    self.forgotten += 1
                    continue
                exchange = exchanges[xid] = Exchange(xid)
                costs[xid] = _EXCHANGE_COST
                added += _EXCHANGE_COST
                new.append(exchange)
            exchange.apply(event)
            cost = _EVENT_COST + _cost(event)
            costs[xid] += cost
            added += cost
            touched.add(xid)
        self.bytes += added
        self._pair(touched)
        self._evict()
        if len(new) and new[0].id not in exchanges:
            new = [exchange for exchange in new if exchange.id in exchanges]
        return new, touched

    @property
    def overhead(self) -> float | None:
        """Capture's share of the app's time, over recent exchanges (None: none measured)."""
        cost, total = self.capture_cost
        return cost / total if total else None

    def _pair(self, touched: set[str]) -> None:
        exchanges = self._exchanges
        batch = [x for xid in touched if (x := exchanges[xid]).request is not None]
        batch.sort(key=lambda x: x.request.wall_time)  # type: ignore[union-attr]
        self.repaired = self.pairing.update(batch)
        touched.update(x.id for x in self.repaired if x.id in exchanges)

    def _note(self, event: ev.Event) -> None:
        match event:
            case ev.EventsDropped(count=count):
                self.events_dropped += count
            case ev.PeerConnected(prefix=prefix, host=host, pid=pid, name=name):
                self.origins[prefix] = Origin(host, pid, name)
                self._connections[prefix] += 1
            case ev.PeerDisconnected(prefix=prefix):
                # A sink that reconnects may say goodbye on its old connection after hello
                # on the new one: count connections, not prefixes.
                left = self._connections[prefix] - 1
                if left > 0:
                    self._connections[prefix] = left
                else:
                    self._connections.pop(prefix, None)

    def _evict(self) -> None:
        exchanges = self._exchanges
        while exchanges and (len(exchanges) > self.max_exchanges or self.bytes > self.max_bytes):
            xid, _ = exchanges.popitem(last=False)
            self.bytes -= self._costs.pop(xid)
            self.evicted += 1
            self._forget(xid)
            self.pairing.forget(xid)

    @property
    def connected(self) -> set[str]:
        """Prefixes of the processes sending events right now."""
        return set(self._connections)

    def _forget(self, xid: str) -> None:
        forgotten = self._forgotten
        forgotten[xid] = None
        if len(forgotten) > _FORGET_AT_MOST:
            forgotten.popitem(last=False)

    def clear(self) -> None:
        for xid in self._exchanges:
            self._forget(xid)
        self._exchanges.clear()
        self._costs.clear()
        self.bytes = 0
        self.pairing.clear()
        self.repaired = []
        self.capture_cost = [0.0, 0.0]
