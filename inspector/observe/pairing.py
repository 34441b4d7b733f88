"""Pairing: the proxy's record and the app's record of one request, found and linked.

When inspect-proxy and a wrapped app both capture, each request is seen twice: as it crossed
the proxy and as the app received it. The proxy records which upstream connection carried a
request (`RequestForwarded`: its own address on that connection, and the request's place
there); the app's scope or environ says which client address it saw. The same address is the
same TCP connection, and the proxy sends one request at a time on it, so the request in flight
on it when the app's began is the one ("exact"). A server that rewrote the client address
(uvicorn trusts `X-Forwarded-For` from 127.0.0.1 and gives port 0) leaves method, target and
time: the earliest proxy exchange still waiting with the same method and target, in flight
when the app's began ("content"). Times are wall-clock seconds, as each peer dates its records.

`Pairing.update(exchanges)` runs after each fold on the exchanges it touched and returns those
whose pairing changed. An exchange is matched once, when it starts waiting (a proxy's once it
was forwarded); what waits is bounded by count, and what still waits `window` seconds after
it ended (by the newest time seen: no clock is read) is given up, with the reason in
`Exchange.unpaired` once both vantage points were seen.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

from inspector.events import Address
from inspector.observe.exchange import Exchange

How = Literal["exact", "content"]
Key = tuple[str, str, bytes]

TOLERANCE = 0.05
"""Seconds two processes' dates of one moment may differ by (each dates its own records)."""
DEFAULT_WINDOW = 2.0
DEFAULT_MAX_WAITING = 10_000


@dataclass(frozen=True, slots=True, eq=False)
class Pair:
    """One request seen by the proxy and by the app; `how` it was found."""

    proxy: Exchange
    app: Exchange
    how: How

    @property
    def label(self) -> str:
        return "paired exactly" if self.how == "exact" else "paired by content"


def paired_app(exchange: Exchange) -> Exchange | None:
    """The app's exchange of a paired proxy exchange (None if it is not one)."""
    pair = exchange.pair
    return pair.app if pair is not None and pair.proxy is exchange else None


def partner(exchange: Exchange) -> Exchange | None:
    """The other record of the same request: a proxy exchange's app exchange, an app
    exchange's proxy exchange (None while unpaired)."""
    pair = exchange.pair
    if pair is None:
        return None
    return pair.app if pair.proxy is exchange else pair.proxy


def is_app_side(exchange: Exchange) -> bool:
    """An app's exchange that a proxy exchange carries (the list shows only the proxy's)."""
    pair = exchange.pair
    return pair is not None and pair.app is exchange


def _start(x: Exchange) -> float:
    assert x.request is not None
    return x.request.wall_time


def _end(x: Exchange) -> float | None:
    return None if x.finished is None else _start(x) + x.finished.total_ns / 1e9


def _forwarded_at(p: Exchange) -> float:
    assert p.request is not None
    assert p.forwarded is not None
    return p.request.wall_time + (p.forwarded.at_ns - p.request.at_ns) / 1e9


def _key(x: Exchange) -> Key:
    assert x.request is not None
    return x.request.method.upper(), x.request.path, x.request.query


def _app_link(x: Exchange) -> Address | None:
    """The client address an app saw, if it can name a connection (a port; 0 is rewritten)."""
    assert x.request is not None
    client = x.request.client
    return client if client is not None and client[1] else None


def _in_flight(p: Exchange, a: Exchange) -> bool:
    """`a` began while `p`'s request was on its way or being answered."""
    began = _start(a)
    if began < _forwarded_at(p) - TOLERANCE:
        return False
    ended = _end(p)
    return ended is None or began <= ended + TOLERANCE


def _show(address: Address | None) -> str:
    return "?" if address is None else f"{address[0]}:{address[1]}"


class Pairing:
    def __init__(
        self, window: float = DEFAULT_WINDOW, max_waiting: int = DEFAULT_MAX_WAITING
    ) -> None:
        self.window = window
        self.max_waiting = max_waiting
        self.clear()

    def clear(self) -> None:
        self._proxies: OrderedDict[str, Exchange] = OrderedDict()
        self._apps: OrderedDict[str, Exchange] = OrderedDict()
        self._proxy_links: dict[Address, list[Exchange]] = {}
        self._proxy_keys: dict[Key, list[Exchange]] = {}
        self._app_links: dict[Address, list[Exchange]] = {}
        self._app_keys: dict[Key, list[Exchange]] = {}
        self.seen_proxy = self.seen_app = False
        self.latest = 0.0
        self.pairs = 0

    def __len__(self) -> int:
        """Exchanges waiting for their pair."""
        return len(self._proxies) + len(self._apps)

    def update(self, exchanges: Iterable[Exchange]) -> list[Exchange]:
        changed: list[Exchange] = []
        for x in exchanges:
            request = x.request
            if request is None or x.pair is not None or x.unpaired:
                continue
            end = _end(x)
            self.latest = max(self.latest, request.wall_time if end is None else end)
            if request.source == "proxy":
                # Only a proxy that records where it forwards (`RequestForwarded`) pairs: an
                # older session's proxy exchanges have nothing to be paired by.
                self.seen_proxy = self.seen_proxy or x.forwarded is not None
                if x.forwarded is None or x.id in self._proxies:
                    seen = self.seen_proxy and self.seen_app
                    if x.forwarded is None and x.finished is not None and seen:
                        x.unpaired = "the proxy answered it itself: it never reached the app"
                        changed.append(x)
                    continue
                self._wait_proxy(x)
                mate = self._match_proxy(x)
                pair = None if mate is None else self._pair(x, mate[0], mate[1])
            else:
                self.seen_app = True
                if x.id in self._apps:
                    continue
                self._wait_app(x)
                found = self._match_app(x)
                pair = None if found is None else self._pair(found[0], x, found[1])
            if pair is not None:
                changed += (pair.proxy, pair.app)
        changed += self._settle()
        return changed

    def forget(self, exchange_id: str) -> None:
        """The store let this exchange go: it waits no more."""
        x = self._proxies.get(exchange_id) or self._apps.get(exchange_id)
        if x is not None:
            self._unwait(x)

    # -- waiting -------------------------------------------------------------------------------

    def _wait_proxy(self, p: Exchange) -> None:
        self._proxies[p.id] = p
        assert p.forwarded is not None
        local = p.forwarded.local
        if local is not None:
            self._proxy_links.setdefault(local, []).append(p)
        self._proxy_keys.setdefault(_key(p), []).append(p)

    def _wait_app(self, a: Exchange) -> None:
        self._apps[a.id] = a
        link = _app_link(a)
        if link is not None:
            self._app_links.setdefault(link, []).append(a)
        else:
            self._app_keys.setdefault(_key(a), []).append(a)

    def _unwait(self, x: Exchange) -> None:
        assert x.request is not None
        if self._proxies.pop(x.id, None) is not None:
            local = x.forwarded.local if x.forwarded is not None else None
            _drop(self._proxy_links, local, x)
            _drop(self._proxy_keys, _key(x), x)
        elif self._apps.pop(x.id, None) is not None:
            link = _app_link(x)
            if link is not None:
                _drop(self._app_links, link, x)
            else:
                _drop(self._app_keys, _key(x), x)

    # -- matching ------------------------------------------------------------------------------

    def _match_proxy(self, p: Exchange) -> tuple[Exchange, How] | None:
        assert p.forwarded is not None
        local = p.forwarded.local
        exact = self._app_links.get(local, []) if local is not None else []
        for a in exact:  # oldest first: the order on the connection
            if _in_flight(p, a):
                return a, "exact"
        for a in self._app_keys.get(_key(p), []):
            if _in_flight(p, a):
                return a, "content"
        return None

    def _match_app(self, a: Exchange) -> tuple[Exchange, How] | None:
        link = _app_link(a)
        if link is not None:
            for p in self._proxy_links.get(link, []):
                if _in_flight(p, a):
                    return p, "exact"
            return None
        for p in self._proxy_keys.get(_key(a), []):  # earliest forwarded first
            if _in_flight(p, a):
                return p, "content"
        return None

    def _pair(self, p: Exchange, a: Exchange, how: How) -> Pair:
        self._unwait(p)
        self._unwait(a)
        p.pair = a.pair = pair = Pair(p, a, how)
        self.pairs += 1
        return pair

    # -- giving up -----------------------------------------------------------------------------

    def _settle(self) -> list[Exchange]:
        """Gives up on what ended `window` seconds before the newest time seen, and on the
        oldest past `max_waiting`."""
        given_up: list[Exchange] = []
        horizon = self.latest - self.window
        for waiting in (self._proxies, self._apps):
            while len(waiting) > self.max_waiting:
                x = next(iter(waiting.values()))
                self._give_up(x, "too many exchanges waited for a pair at once", given_up)
            for x in list(waiting.values()):
                if _start(x) > horizon:
                    break  # the rest started later still
                end = _end(x)
                if end is not None and end < horizon:
                    self._give_up(x, self._why(x), given_up)
        return given_up

    def _give_up(self, x: Exchange, why: str, given_up: list[Exchange]) -> None:
        self._unwait(x)
        if self.seen_proxy and self.seen_app:
            x.unpaired = why
            given_up.append(x)

    def _why(self, x: Exchange) -> str:
        assert x.request is not None
        method, path = x.request.method, x.request.path
        if x.request.source == "proxy":
            assert x.forwarded is not None
            where = _show(x.forwarded.local)
            return (
                f"the app recorded no request from {where} (request {x.forwarded.sequence} "
                f"on that upstream connection), nor a {method} {path} while it was in flight"
            )
        link = _app_link(x)
        if link is not None:
            return f"no proxy exchange went out from {_show(link)}: it did not pass the proxy"
        return (
            f"the server gave its client as {_show(x.request.client)} (rewritten, e.g. from "
            f"X-Forwarded-For), and no proxy exchange of {method} {path} was in flight then"
        )


K = TypeVar("K")


def _drop(index: dict[K, list[Exchange]], key: K | None, x: Exchange) -> None:
    bucket = None if key is None else index.get(key)
    if bucket is None or key is None:
        return
    for i, each in enumerate(bucket):
        if each is x:
            del bucket[i]
            break
    if not bucket:
        del index[key]
