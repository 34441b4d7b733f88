"""The spec checks' vocabulary: a `Rule` (name, one-line explanation, spec section), a
`Finding` (a rule an exchange broke, with what was seen), and `Facts`, one pass over an
exchange's events gathering what the rules look at.

Rules are plain functions registered with `@rule(...)` in the protocol modules beside this one
(`asgi`, `wsgi`, `http`, `websocket`); each takes the `Facts` of one exchange and yields a
sentence per mistake it sees. They read only events, so they run in the observer, never in
the app's process, and are tested on plain lists of events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from inspector import events as ev

Check = Callable[["Facts"], Iterable[str]]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    """`protocol.what-went-wrong`, e.g. `asgi.body-after-end`; the filter takes a prefix."""
    summary: str
    reference: str
    """The spec and its section, e.g. `RFC 9110 §15.3.5`."""
    check: Check

    @property
    def protocol(self) -> str:
        return self.name.partition(".")[0]


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    detail: str
    """What this exchange did, in one sentence."""

    @property
    def name(self) -> str:
        return self.rule.name


RULES: dict[str, Rule] = {}


def rule(name: str, summary: str, reference: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        assert name not in RULES, name
        RULES[name] = Rule(name, summary, reference, check)
        return check

    return register


class Facts:
    """One exchange's events, sorted by kind (each list in the order the events came)."""

    def __init__(self, events: Sequence[ev.Event]) -> None:
        self.events = events
        self.request: ev.RequestStarted | None = None
        self.starts: list[ev.ResponseStarted] = []
        self.restarts: list[ev.ResponseRestarted] = []
        self.chunks: list[ev.ResponseBodyChunk] = []
        self.written: list[ev.ResponseBodyWritten] = []
        self.files: list[ev.ResponseFileSent] = []
        self.trailers: list[ev.ResponseTrailers] = []
        self.accepts: list[ev.WebSocketAccepted] = []
        self.denials: list[ev.WebSocketDenied] = []
        self.messages: list[ev.WebSocketMessage] = []
        self.closes: list[ev.WebSocketClosed] = []
        self.relayed: list[ev.MessageRelayed] = []
        self.capture_failed: list[ev.CaptureFailed] = []
        self.finished: ev.ExchangeFinished | None = None
        lists: dict[type, list[Any]] = {
            ev.ResponseStarted: self.starts,
            ev.ResponseRestarted: self.restarts,
            ev.ResponseBodyChunk: self.chunks,
            ev.ResponseBodyWritten: self.written,
            ev.ResponseFileSent: self.files,
            ev.ResponseTrailers: self.trailers,
            ev.WebSocketAccepted: self.accepts,
            ev.WebSocketDenied: self.denials,
            ev.WebSocketMessage: self.messages,
            ev.WebSocketClosed: self.closes,
            ev.MessageRelayed: self.relayed,
            ev.CaptureFailed: self.capture_failed,
        }
        for event in events:
            kind = type(event)
            found = lists.get(kind)
            if found is not None:
                found.append(event)
            elif kind is ev.RequestStarted:
                self.request = event  # type: ignore[assignment]
            elif kind is ev.ExchangeFinished:
                self.finished = event  # type: ignore[assignment]

    @property
    def source(self) -> str:
        return "" if self.request is None else self.request.source

    @property
    def websocket(self) -> bool:
        return self.request is not None and self.request.kind == "websocket"

    @property
    def http(self) -> bool:
        return self.request is not None and self.request.kind == "http"

    @property
    def completed(self) -> bool:
        """The app returned normally (or the proxy saw the exchange through)."""
        return self.finished is not None and self.finished.outcome == "completed"

    @cached_property
    def response(self) -> ev.ResponseStarted | ev.ResponseRestarted | None:
        """The head the client got: for WSGI, a restart replaces headers not yet sent."""
        head: ev.ResponseStarted | ev.ResponseRestarted | None = (
            self.starts[0] if self.starts else None
        )
        if head is not None and self.restarts and not self.body_size:
            head = self.restarts[-1]
        return head

    def heads(self) -> list[ev.ResponseStarted | ev.ResponseRestarted]:
        """Every status and header list the app gave, WSGI restarts included."""
        return [*self.starts, *self.restarts]

    @cached_property
    def body_size(self) -> int:
        return sum(c.size for c in self.chunks) + sum(w.size for w in self.written)

    def response_heads(self) -> Iterator[tuple[str, ev.Headers]]:
        """Every header block the server side sent, named for a finding."""
        for start in self.starts:
            yield "response", start.headers
        for restart in self.restarts:
            yield "response (restarted)", restart.headers
        for accept in self.accepts:
            yield "accept", accept.headers
        for denial in self.denials:
            yield "denial", denial.headers
        for trailers in self.trailers:
            yield "trailers", trailers.headers


def values(headers: ev.Headers, name: bytes) -> list[bytes]:
    """Every value of header `name` (lower case)."""
    return [v for n, v in headers if n.lower() == name]


def show(value: bytes | str, limit: int = 60) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = repr(text[:limit] + ("…" if len(text) > limit else ""))
    return text
