"""Every rule fires on events showing its mistake, and no rule fires on correct traffic of
many kinds (ASGI, WSGI and the proxy; HTTP and WebSocket). The mistakes a real server lets
through are shown again under uvicorn and gunicorn in `test_servers.py`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inspector import events as ev
from inspector.observe.checks import RULES, check, findings, rules_named
from inspector.observe.exchange import fold
from tests.inspector.observe.checks.script import ACCEPT, CT, HANDSHAKE, KEY, Script


def asgi() -> Script:
    return Script("asgi").request()


def wsgi() -> Script:
    return Script("wsgi").request()


def proxy() -> Script:
    return Script("proxy").request()


def ws(source: ev.Source = "asgi", headers: ev.Headers | None = None) -> Script:
    script = Script(source, "websocket").request(headers=headers)
    return script.add(ev.WebSocketHandshakeReceived)


def ws_headers(*more: tuple[bytes, bytes]) -> ev.Headers:
    return (*HANDSHAKE, *more)


TRIGGERS: dict[str, Callable[[], Script]] = {
    # ASGI
    "asgi.start-missing": lambda: asgi().finish(),
    "asgi.start-twice": lambda: asgi().start().start(500).body(b"").finish("failed"),
    "asgi.body-before-start": lambda: asgi().body(b"x").start().body(b"").finish("failed"),
    "asgi.body-after-end": lambda: asgi().start().body(b"a").body(b"b").finish("failed"),
    "asgi.response-unfinished": lambda: asgi().start().body(b"a", more=True).finish(),
    "asgi.send-after-disconnect": lambda: asgi().add(ev.ClientDisconnected).start().finish(),
    "asgi.header-name-case": lambda: asgi().start(200, ((b"Content-Type", b"a/b"),)).finish(),
    "asgi.not-bytes": lambda: asgi().add(
        ev.CaptureFailed, "observer", "AsgiSent: a body must be bytes, not str"
    ),
    "asgi.trailers-unannounced": lambda: (
        asgi().start().body(b"").add(ev.ResponseTrailers, ((b"x-checksum", b"1"),), False).finish()
    ),
    "asgi.trailers-missing": lambda: (
        Script("asgi")
        .request(snapshot={"extensions": {"http.response.trailers": {}}})
        .start(trailers=True)
        .body(b"")
        .finish()
    ),
    "asgi.extension-unsupported": lambda: (
        asgi().start().add(ev.ResponseFileSent, "pathsend", "/f", None, None, False).finish()
    ),
    "asgi.ws-send-before-accept": lambda: ws().message("server").accept().finish(),
    "asgi.ws-accept-twice": lambda: ws().accept().accept().finish(),
    "asgi.ws-send-after-close": lambda: ws().accept().close("client", 1001).message("server"),
    "asgi.ws-accept-before-connect": lambda: Script("asgi", "websocket").request().accept(),
    "asgi.ws-denial-after-accept": lambda: (
        Script("asgi", "websocket")
        .request(snapshot={"extensions": {"websocket.http.response": {}}})
        .accept()
        .add(ev.WebSocketDenied, 403, CT)
    ),
    # WSGI
    "wsgi.start-response-twice": lambda: (
        wsgi().start().add(ev.ResponseRestarted, 500, CT, "Error", "").body(b"x").finish()
    ),
    "wsgi.start-missing": lambda: wsgi().finish(),
    "wsgi.status-format": lambda: (
        wsgi().add(ev.ResponseStarted, 200, CT, False, "").body(b"").finish()
    ),
    "wsgi.hop-by-hop": lambda: wsgi().start(200, (*CT, (b"Connection", b"close"))).finish(),
    "wsgi.write-after-iterable": lambda: (
        wsgi().start().body(b"a", more=True).add(ev.ResponseBodyWritten, b"b", 1).finish()
    ),
    "wsgi.body-before-start": lambda: wsgi().body(b"a", more=True).start().finish(),
    "wsgi.environ-missing": lambda: Script("wsgi").request(snapshot={"REQUEST_METHOD": "GET"}),
    # HTTP
    "http.body-on-204": lambda: asgi().start(204, ()).body(b"x").finish(),
    "http.body-on-304": lambda: proxy().start(304, ()).body(b"x").finish(),
    "http.body-on-head": lambda: Script("proxy").request("HEAD").start().body(b"x").finish(),
    "http.content-length-mismatch": lambda: (
        asgi().start(200, (*CT, (b"content-length", b"5"))).body(b"abc").finish()
    ),
    "http.content-length-invalid": lambda: (
        asgi()
        .start(200, (*CT, (b"content-length", b"3"), (b"content-length", b"4")))
        .body(b"abc")
        .finish()
    ),
    "http.content-length-forbidden": lambda: (
        asgi().start(204, ((b"content-length", b"0"),)).body().finish()
    ),
    "http.content-length-with-te": lambda: (
        proxy()
        .start(200, (*CT, (b"content-length", b"2"), (b"transfer-encoding", b"chunked")))
        .body(b"hi")
        .finish()
    ),
    "http.te-forbidden": lambda: proxy().start(204, ((b"transfer-encoding", b"chunked"),)).finish(),
    "http.te-on-http10": lambda: (
        Script("proxy")
        .request(version="1.0")
        .start(200, (*CT, (b"transfer-encoding", b"chunked")))
        .body(b"hi")
        .finish()
    ),
    "http.content-type-missing": lambda: asgi().respond(200, b"hi", ()).finish(),
    "http.header-name-invalid": lambda: asgi().start(200, ((b"x bad", b"1"),)).body().finish(),
    "http.header-value-invalid": lambda: asgi().start(200, ((b"x-a", b"1\r\nx: y"),)).finish(),
    "http.header-value-whitespace": lambda: asgi().start(200, ((b"x-a", b" 1"),)).finish(),
    "http.header-duplicate": lambda: asgi().start(200, (*CT, *CT)).body().finish(),
    "http.status-invalid": lambda: asgi().start(99, ()).body().finish(),
    "http.location-missing": lambda: asgi().start(302, ()).body().finish(),
    "http.www-authenticate-missing": lambda: asgi().start(401, ()).body().finish(),
    "http.allow-missing": lambda: asgi().start(405, ()).body().finish(),
    "http.proxy-authenticate-missing": lambda: proxy().start(407, ()).body().finish(),
    "http.content-range-missing": lambda: asgi().respond(206, b"part").finish(),
    "http.trailer-forbidden": lambda: (
        proxy()
        .start(200, (*CT, (b"trailer", b"content-length")), trailers=True)
        .body(b"")
        .add(ev.ResponseTrailers, ((b"content-length", b"0"),), False)
        .finish()
    ),
    "http.host-missing": lambda: Script("proxy").request(headers=()).finish(),
    # WebSocket
    "ws.close-code-invalid": lambda: ws().accept().close("server", 1005).finish(),
    "ws.close-reason-too-long": lambda: ws("proxy").accept().close("client", 1000, "x" * 124),
    "ws.text-invalid-utf8": lambda: ws().accept().message("server", "a\ud800").finish(),
    "ws.message-after-close": lambda: ws("proxy").accept().close("server").message("server"),
    "ws.subprotocol-not-offered": lambda: ws().accept("chat.v9").finish(),
    "ws.handshake-invalid": lambda: ws("proxy", ((b"host", b"test"),)).finish(),
    "ws.accept-key-mismatch": lambda: ws("proxy").accept(
        None, ((b"sec-websocket-accept", b"AAAA"),)
    ),
    "ws.reserved-opcode": lambda: (
        ws("proxy")
        .accept(None, ((b"sec-websocket-accept", ACCEPT),))
        .add(ev.MessageRelayed, "receive", "websocket.opcode-3")
    ),
}


def names(script: Script) -> set[str]:
    return {finding.name for finding in check(script.events)}


def test_every_rule_has_a_trigger_and_at_least_forty_exist() -> None:
    assert set(TRIGGERS) == set(RULES)
    assert len(RULES) >= 40


@pytest.mark.parametrize("name", sorted(TRIGGERS))
def test_rule_fires_on_its_mistake(name: str) -> None:
    found = check(TRIGGERS[name]().events)
    assert name in {f.name for f in found}
    finding = next(f for f in found if f.name == name)
    assert finding.detail
    assert finding.rule.summary
    assert finding.rule.reference


WITH_TRAILERS = {"extensions": {"http.response.trailers": {}}}
CORRECT: dict[str, Callable[[], Script]] = {
    "asgi-get": lambda: asgi().respond().finish(),
    "asgi-stream": lambda: (
        asgi().start().body(b"a", more=True).body(b"b", more=True).body(b"").finish()
    ),
    "asgi-head": lambda: (
        Script().request("HEAD").start(200, (*CT, (b"content-length", b"10"))).body().finish()
    ),
    "asgi-head-with-body": lambda: Script().request("HEAD").respond().finish(),  # server drops it
    "asgi-204": lambda: asgi().start(204, ()).body().finish(),
    "asgi-304": lambda: asgi().start(304, ((b"etag", b'"1"'),)).body().finish(),
    "asgi-redirect": lambda: asgi().start(302, ((b"location", b"/a"),)).body().finish(),
    "asgi-401": lambda: asgi().respond(401, b"no", (*CT, (b"www-authenticate", b"Basic"))).finish(),
    "asgi-405": lambda: asgi().respond(405, b"no", (*CT, (b"allow", b"GET"))).finish(),
    "asgi-206": lambda: (
        asgi().respond(206, b"ab", (*CT, (b"content-range", b"bytes 0-1/9"))).finish()
    ),
    "asgi-set-cookies": lambda: (
        asgi().respond(200, b"hi", (*CT, (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"))).finish()
    ),
    "asgi-trailers": lambda: (
        Script("asgi")
        .request(snapshot=WITH_TRAILERS)
        .start(200, CT, trailers=True)
        .body(b"hi")
        .add(ev.ResponseTrailers, ((b"x-checksum", b"1"),), False)
        .finish()
    ),
    "asgi-pathsend": lambda: (
        Script("asgi")
        .request(snapshot={"extensions": {"http.response.pathsend": {}}})
        .start()
        .add(ev.ResponseFileSent, "pathsend", "/f", None, None, False)
        .finish()
    ),
    "asgi-disconnect-then-return": lambda: asgi().add(ev.ClientDisconnected).finish("cancelled"),
    "asgi-app-failed": lambda: (
        asgi().add(ev.AppFailed, "ValueError", "boom", "", False).finish("failed")
    ),
    "asgi-pending": lambda: asgi().start().body(b"a", more=True),
    "wsgi-list": lambda: wsgi().respond().finish(),
    "wsgi-write-then-iterable": lambda: (
        wsgi()
        .start()
        .add(ev.ResponseBodyWritten, b"a", 1)
        .body(b"b", more=True)
        .add(ev.IterableClosed)
        .finish()
    ),
    "wsgi-restart-with-exc-info": lambda: (
        wsgi()
        .start()
        .add(ev.ResponseRestarted, 500, CT, "Internal Server Error", "ValueError('x')")
        .body(b"oops", more=True)
        .finish()
    ),
    "wsgi-http10": lambda: Script("wsgi").request(version="1.0").respond().finish(),
    "proxy-chunked": lambda: (
        proxy().start(200, (*CT, (b"transfer-encoding", b"chunked"))).body(b"hi").finish()
    ),
    "proxy-trailers": lambda: (
        proxy()
        .start(200, (*CT, (b"trailer", b"x-checksum")), trailers=True)
        .body(b"hi")
        .add(ev.ResponseTrailers, ((b"x-checksum", b"1"),), False)
        .finish()
    ),
    "proxy-http10-host-less": lambda: (
        Script("proxy").request(headers=(), version="1.0").respond().finish()
    ),
    "asgi-websocket": lambda: (
        ws(headers=ws_headers((b"sec-websocket-protocol", b"a, chat")))
        .accept("chat")
        .message("client")
        .message("server", "é")
        .close("client", 1005)  # ASGI reports "no code" as 1005: not a frame
        .finish()
    ),
    "asgi-websocket-app-closes": lambda: ws().accept().close("server", 4000, "done").finish(),
    "asgi-websocket-denied": lambda: (
        Script("asgi", "websocket")
        .request(snapshot={"extensions": {"websocket.http.response": {}}})
        .add(ev.WebSocketHandshakeReceived)
        .add(ev.WebSocketDenied, 403, CT)
        .body(b"no")
        .finish()
    ),
    "asgi-websocket-closed-before-accept": lambda: ws().close("server", 1000).finish(),
    "proxy-websocket": lambda: (
        ws("proxy")
        .accept(None, ((b"upgrade", b"websocket"), (b"sec-websocket-accept", ACCEPT)))
        .message("client")
        .add(ev.MessageRelayed, "receive", "websocket.ping")
        .message("server")
        .close("client", 1000)
        .close("server", 1000)
        .finish()
    ),
    "proxy-websocket-gone": lambda: ws("proxy").accept().close("client", 1006).finish(),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_no_rule_fires_on_correct_traffic(name: str) -> None:
    assert check(CORRECT[name]().events) == ()


def test_an_exchange_without_its_start_is_not_judged() -> None:
    assert check([ev.ExchangeFinished("x-1", 1, "completed", 0, 0, 0)]) == ()


def test_findings_are_cached_until_more_events_come() -> None:
    script = asgi().start(204, ()).body(b"x")
    exchange = fold(script.events)["x-1"]
    first = findings(exchange)
    assert [f.name for f in first] == ["http.body-on-204"]
    assert findings(exchange) is first
    exchange.apply(ev.ResponseBodyChunk("x-1", 9, b"y", 1, True))
    assert findings(exchange) is not first


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("asgi", 16),
        ("ws", 8),
        ("http.body", 3),
        ("http.body-on-204", 1),
        ("HTTP.", 22),
        ("nothing", 0),
        ("asg", 0),
    ],
)
def test_rules_named_takes_a_name_or_a_prefix(name: str, expected: int) -> None:
    assert len(rules_named(name)) == expected


def test_key_is_the_rfc_sample() -> None:  # RFC 6455 §1.3's worked example
    assert KEY == b"dGhlIHNhbXBsZSBub25jZQ=="
    assert ACCEPT == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
