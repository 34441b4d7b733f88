"""The fast path never hides a finding: over many generated exchanges (most of the common shape
with random statuses and header blocks, the rest random sequences of every event kind the rules
read), `quiet` is True only where the rules one by one find nothing, and `check` always equals
them. It must also be taken: on the correct traffic of `test_rules.py` and the scenarios."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

import pytest

from inspector import events as ev
from inspector.observe.checks import check, check_rules
from inspector.observe.checks.fast import quiet
from tests.inspector.observe.checks.script import CT, WSGI_ENVIRON, Script
from tests.inspector.observe.checks.test_rules import CORRECT
from tui import scenarios

STATUSES = (99, 100, 199, 200, 201, 204, 206, 299, 301, 302, 304, 305, 307, 308, 400, 401, 404)
STATUSES += (405, 407, 500, 599, 600)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    *CT,
    (b"Content-Type", b"a/b"),
    (b"content-length", b"2"),
    (b"content-length", b"3"),
    (b"content-length", b"0"),
    (b"Content-Length", b" 2"),
    (b"content-length", b"x"),
    (b"transfer-encoding", b"chunked"),
    (b"location", b"/"),
    (b"www-authenticate", b"Basic"),
    (b"allow", b"GET"),
    (b"proxy-authenticate", b"Basic"),
    (b"content-range", b"bytes 0-1/2"),
    (b"connection", b"close"),
    (b"TE", b"trailers"),
    (b"set-cookie", b"a=1"),
    (b"etag", b'"1"'),
    (b"x bad", b"1"),
    (b"", b"1"),
    (b"x\nhost", b"1"),
    (b"x-a", b" 1"),
    (b"x-a", b"1\t"),
    (b"x-a", b"a\x00"),
    (b"x-a", b"a\nb"),
    (b"x-a", b""),
)
HOSTS = ((), ((b"host", b"a"),), ((b"Host", b"a"),), ((b"host", b"a"), (b"HOST", b"b")))
BODIES = (b"", b"hi", b"abc")


def head(rng: random.Random) -> ev.Headers:
    pool = HEADERS if rng.random() < 0.5 else HEADERS[:3]  # half the time, correct ones
    return tuple(rng.choice(pool) for _ in range(rng.randrange(5)))


def request(rng: random.Random, kind: str = "http") -> Script:
    source: ev.Source = rng.choice(("asgi", "wsgi", "proxy"))
    environ = dict(WSGI_ENVIRON)
    if rng.random() < 0.1:
        del environ[rng.choice(sorted(environ))]
    return Script(source, kind).request(
        rng.choice(("GET", "POST", "HEAD", "head")),
        rng.choice(HOSTS) + head(rng)[:1],
        rng.choice(("1.1", "1.1", "1.0", "2")),
        environ if source == "wsgi" else {"type": kind},
    )


def common(rng: random.Random) -> Script:
    """Request, start, body chunks, finish: the shape `quiet` answers, with random details."""
    reason = rng.choice(("OK", "OK", "", " "))
    script = request(rng).add(
        ev.ResponseStarted,
        rng.choice((200, 200, 404, *STATUSES)),
        head(rng),
        rng.random() < 0.05,
        reason,
    )
    for _ in range(rng.randrange(3)):
        script.body(rng.choice(BODIES), more=rng.random() < 0.5)
    if rng.random() < 0.9:
        script.finish(rng.choice(("completed", "completed", "failed", "cancelled")))
    return script


STEPS: tuple[Callable[[Script, random.Random], object], ...] = (
    lambda s, r: s.start(r.choice(STATUSES), head(r), r.random() < 0.2),
    lambda s, r: s.body(r.choice(BODIES), more=r.random() < 0.5),
    lambda s, r: s.body(r.choice(BODIES), more=r.random() < 0.5),
    lambda s, r: s.finish(r.choice(("completed", "failed"))),
    lambda s, r: s.add(ev.RequestBodyChunk, b"x", 1, False),
    lambda s, r: s.add(ev.ResponseRestarted, r.choice(STATUSES), head(r), "Error", r.choice("x")),
    lambda s, r: s.add(ev.ResponseBodyWritten, b"ab", 2),
    lambda s, r: s.add(ev.ResponseFileSent, "pathsend", "/f", None, None, False),
    lambda s, r: s.add(ev.ResponseTrailers, head(r), False),
    lambda s, r: s.add(ev.ClientDisconnected),
    lambda s, r: s.add(ev.AppFailed, "ValueError", "boom", "", False),
    lambda s, r: s.add(ev.IterableClosed),
    lambda s, r: s.add(ev.CaptureFailed, "observer", "AsgiSent: a body must be bytes, not str"),
    lambda s, r: s.add(ev.WebSocketHandshakeReceived),
    lambda s, r: s.accept(),
    lambda s, r: s.message(r.choice(("client", "server"))),
    lambda s, r: s.close(r.choice(("client", "server")), r.choice((1000, 1005, 1006, 999))),
    lambda s, r: s.add(ev.WebSocketDenied, 403, head(r)),
)


def anything(rng: random.Random) -> Script:
    script = request(rng, rng.choice(("http", "http", "websocket")))
    for _ in range(rng.randrange(7)):
        rng.choice(STEPS)(script, rng)
    return script


@pytest.mark.parametrize("seed", range(4))
def test_quiet_only_where_no_rule_fires_and_check_equals_the_rules(seed: int) -> None:
    rng = random.Random(seed)
    taken = found = 0
    for i in range(5_000):
        events = (common if i % 2 else anything)(rng).events
        expected = check_rules(events)
        if quiet(events):
            assert expected == (), events
            taken += 1
        assert check(events) == expected
        found += bool(expected)
    assert taken > 300  # both sides of the fast path were exercised
    assert found > 2_000


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_http_traffic_takes_the_fast_path(name: str) -> None:
    events = CORRECT[name]().events
    kinds = {type(e) for e in events}
    unusual = {ev.ResponseRestarted, ev.ResponseBodyWritten, ev.ResponseFileSent}
    unusual |= {ev.ResponseTrailers, ev.ClientDisconnected, ev.WebSocketHandshakeReceived}
    assert quiet(events) == (not kinds & unusual)


def test_the_scenarios_correct_http_exchanges_take_the_fast_path() -> None:
    by_id: dict[str, list[ev.Event]] = defaultdict(list)
    for event in [*scenarios.session(), *scenarios.paired(), *scenarios.live()]:
        by_id[event.exchange_id].append(event)
    http = [
        e for e in by_id.values() if isinstance(e[0], ev.RequestStarted) and e[0].kind == "http"
    ]
    assert len(http) > 10
    for events in http:
        assert quiet(events) == (check_rules(events) == ())
