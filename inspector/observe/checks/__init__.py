"""Live spec checks: a rule set over each exchange's events that flags protocol mistakes
(ASGI, WSGI/PEP 3333, HTTP semantics and framing, WebSocket) with the spec section each comes
from. Checks run in the observer only, on events, never in the app's process.

`check(events)` runs every rule (after `quiet`, the fast path that answers "nothing" at once
for the common correct exchange); `findings(exchange)` caches the answer on the exchange and
runs again only once more events have come, so the list, the filter and the detail screen
can ask on every repaint. `rules_named(name)` resolves a rule name or a prefix (`asgi`,
`http.body`) for the `~check` filter.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from inspector import events as ev
from inspector.observe.checks import asgi, http, websocket, wsgi
from inspector.observe.checks.core import RULES, Facts, Finding, Rule
from inspector.observe.checks.fast import quiet
from inspector.observe.exchange import Exchange

__all__ = ["RULES", "Finding", "Rule", "check", "findings", "rules_named"]
_MODULES = (asgi, wsgi, http, websocket)  # imported for their rules


def check(events: Sequence[ev.Event]) -> tuple[Finding, ...]:
    """Every finding of one exchange's events, in rule order."""
    if quiet(events):
        return ()  # the common correct shape: provably nothing to find
    return check_rules(events)


def check_rules(events: Sequence[ev.Event]) -> tuple[Finding, ...]:
    """`check` without its fast path: every rule that can apply, one by one."""
    facts = Facts(events)
    request = facts.request
    if request is None:
        return ()  # the start was lost: too little to judge anything by
    return tuple(
        Finding(each, detail)
        for each in _applying(request.source, request.kind)
        for detail in each.check(facts)
    )


@functools.cache
def _applying(source: str, kind: str) -> tuple[Rule, ...]:
    """The rules that can apply to an exchange from `source` of `kind`: ASGI rules to the ASGI
    middleware's captures, WSGI rules to the WSGI middleware's, WebSocket rules to WebSocket
    connections (each rule checks the rest itself); worked out once per pair."""
    skip = {"asgi", "wsgi"} - {source}
    if kind != "websocket":
        skip.add("ws")
    return tuple(r for r in RULES.values() if r.protocol not in skip)


def findings(exchange: Exchange) -> tuple[Finding, ...]:
    """`check` over the exchange's events, cached until more events come."""
    seen = len(exchange.events) + exchange.events_dropped
    cached = exchange.checked
    if cached is not None and cached[0] == seen:
        return cached[1]
    result = check(exchange.events)
    exchange.checked = (seen, result)
    return result


def rules_named(name: str) -> list[Rule]:
    """The rules called `name`, or whose name starts with `name` and a dot or a dash."""
    name = name.lower().rstrip(".")
    return [
        r
        for r in RULES.values()
        if r.name == name or r.name.startswith(name + ".") or r.name.startswith(name + "-")
    ]
