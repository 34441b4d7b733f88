"""HTTP intercept in the `Connection`, without sockets: a request or response an armed rule
matches is kept back, recorded as held, and forwarded, edited or dropped when released;
forwarded after the hold timeout; lost with its connection. The clocks that would blame a
peer (response, body, send) stand still while the viewer holds something.

The fake `Io` and clock of `test_connection`, and fake timers for the hold timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from inspector import events as ev
from inspector.observe.exchange import Exchange
from inspector.observe.rules import compile_rule
from inspector.proxy.holds import ActionError
from tests.inspector.proxy.test_connection import GET, OK, Harness, S, only

POST = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"


class Timers:
    """The loop's `call_later`, standing still until `fire`."""

    def __init__(self) -> None:
        self.pending: list[Timer] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(callback)
        self.pending.append(timer)
        return timer

    def fire(self) -> None:
        for timer in self.pending:
            if not timer.cancelled:
                timer.callback()


class Timer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def armed(requests: str | None = None, responses: str | None = None, **settings: Any) -> Harness:
    h = Harness(**settings)
    steering = h.shared.steering
    steering.schedule = Timers()
    steering.arm(
        None,
        None if requests is None else compile_rule(requests, "requests"),
        None if responses is None else compile_rule(responses, "responses"),
    )
    return h


def held(h: Harness) -> list[ev.TrafficHeld]:
    return [e for x in h.folded() for e in x.events if isinstance(e, ev.TrafficHeld)]


def releases(exchange: Exchange) -> list[str]:
    return [e.action for e in exchange.events if isinstance(e, ev.HoldReleased)]


def release(h: Harness, action: str, **change: bytes) -> None:
    steering = h.shared.steering
    (number,) = steering.holds
    steering.release(number, action, change)


# -- requests -------------------------------------------------------------------------------------


def test_a_held_request_reaches_nothing_until_forwarded_exactly_as_read() -> None:
    h = armed("~m POST")
    h.connection.client_data(POST)
    assert h.io.take() == []  # not even a connection to the upstream
    (hold,) = held(h)
    assert (hold.what, hold.sender, hold.body, hold.size, hold.editable) == (
        "request",
        "client",
        b"abc",
        3,
        "",
    )
    assert hold.head == POST.split(b"\r\n\r\n")[0] + b"\r\n"
    release(h, "forward")
    h.open()
    h.connection.upstream_data(OK)
    assert (h.io.sent("to_upstream"), h.io.sent("to_client")) == (POST, OK)
    exchange = only(h)
    assert (exchange.status, exchange.state, exchange.holds) == (200, "completed", {})
    assert releases(exchange) == ["forwarded"]


def test_a_request_the_rule_does_not_match_passes_as_before() -> None:
    h = armed("~m POST")
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    assert h.io.sent("to_upstream") == GET
    assert held(h) == []


def test_an_edited_request_is_reframed_and_sent_instead() -> None:
    h = armed("~u /p")
    chunked = (
        b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    h.connection.client_data(chunked)
    (hold,) = held(h)
    assert (hold.body, hold.size, hold.editable) == (b"abc", 3, "")
    # Typed in an editor: LF line ends, a stale length; chunked is replaced by the new length.
    head = b"PUT /q HTTP/1.1\nHost: a\nContent-Length: 99\nX-Edited: yes\n"
    release(h, "edit", head=head, body=b"hello")
    h.open()
    sent = b"PUT /q HTTP/1.1\r\nHost: a\r\nX-Edited: yes\r\nContent-Length: 5\r\n\r\nhello"
    assert h.io.sent("to_upstream") == sent
    h.connection.upstream_data(OK)
    assert h.io.sent("to_client") == OK
    assert releases(only(h)) == ["edited"]


def test_an_edited_request_is_recorded_as_forwarded_beside_what_the_client_sent() -> None:
    h = armed("~m POST")
    h.now += 7 * S
    h.connection.client_data(POST)
    h.now += 3 * S  # the viewer takes its time
    release(h, "edit", head=b"PUT /q HTTP/1.1\nHost: a\nContent-Length: 3\n", body=b"hello")
    h.open()
    exchange = only(h)
    (edit,) = exchange.edits
    sent = h.io.sent("to_upstream")
    assert (edit.what, edit.hold, edit.at_ns) == ("request", 1, h.now)
    assert edit.head + b"\r\n" + edit.body == sent  # exactly what the upstream got
    assert edit.head == b"PUT /q HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
    assert (exchange.edit("request"), exchange.edit("response")) == (edit, None)
    # The exchange still says what the client sent; the edit comes before its release.
    assert exchange.request is not None
    assert exchange.request.method == "POST"
    assert exchange.request_body.data == b"abc"
    kinds = [type(e).__name__ for e in exchange.events]
    assert kinds.index("TrafficEdited") + 1 == kinds.index("HoldReleased")


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"nonsense", "must start with a request line"),
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n", "malformed header field"),
        (b"GET http://elsewhere.example/ HTTP/1.1\r\nHost: a\r\n", "only forwards to"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n", "upgrade"),
    ],
)
def test_a_malformed_edit_is_refused_and_the_hold_stays(head: bytes, why: str) -> None:
    h = armed("~m GET")
    h.connection.client_data(GET)
    with pytest.raises(ActionError, match=why):
        release(h, "edit", head=head, body=b"")
    assert h.io.take() == []
    release(h, "forward")
    h.open()
    assert h.io.sent("to_upstream") == GET


def test_a_dropped_request_gets_the_proxys_502_and_never_reaches_the_upstream() -> None:
    h = armed("~m POST")
    h.connection.client_data(POST)
    release(h, "drop")
    answer = h.io.sent("to_client")
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"the viewer dropped this request" in answer
    assert ("connect",) not in h.io.log
    assert h.closed()
    exchange = only(h)
    assert (exchange.status, exchange.state, releases(exchange)) == (502, "failed", ["dropped"])


def test_a_body_over_the_limit_is_held_paused_and_cannot_be_edited() -> None:
    h = armed("~m POST", body_limit=4)
    head = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
    h.connection.client_data(head + b"012345")
    assert ("pause_client",) in h.io.take()
    (hold,) = held(h)
    assert (hold.body, hold.size) == (b"0123", 10)
    assert "longer than the body limit" in hold.editable
    with pytest.raises(ActionError, match="forwarded or dropped, not edited"):
        release(h, "edit", head=head, body=b"x")
    release(h, "forward")
    h.open()
    assert ("resume_client",) in h.io.log  # once connected
    h.connection.client_data(b"6789")  # the rest streams as it comes
    assert h.io.sent("to_upstream") == head + b"0123456789"
    h.connection.upstream_data(OK)
    assert only(h).state == "completed"


def test_a_rule_on_the_body_decides_once_the_body_is_in() -> None:
    h = armed("~b secret")
    h.connection.client_data(POST)  # abc: no secret, so it goes (once its body is in)
    h.open()
    assert h.io.sent("to_upstream") == POST
    h.connection.upstream_data(OK)
    secret = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nsec"
    h.connection.client_data(secret)
    assert h.io.take()[-1] != ("to_upstream", secret)  # not in yet: kept back
    h.connection.client_data(b"ret")
    (hold,) = held(h)
    assert hold.body == b"secret"
    assert h.io.sent("to_upstream") == b""


def test_a_held_request_times_out_forwarded() -> None:
    h = armed("~m POST")
    h.connection.client_data(POST)
    timers = h.shared.steering.schedule
    assert isinstance(timers, Timers)
    timers.fire()
    h.open()
    assert h.io.sent("to_upstream") == POST
    assert releases(only(h)) == ["timed out"]


def test_a_held_request_whose_client_goes_is_lost() -> None:
    h = armed("~m POST")
    h.connection.client_data(POST)
    h.connection.client_lost()
    assert h.shared.steering.holds == {}
    exchange = only(h)
    assert (exchange.state, releases(exchange)) == ("disconnected", ["lost"])


def test_an_upstream_that_closes_while_a_request_is_held_is_replaced() -> None:
    h = armed("~m POST")
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    h.io.take()
    h.connection.client_data(POST)
    h.connection.upstream_eof()  # its idle timeout: nothing of the held request went there
    h.connection.upstream_lost(None)
    assert h.io.take() == [("close_upstream", False)]
    release(h, "forward")
    assert ("connect",) in h.io.log
    h.open()
    assert h.io.sent("to_upstream") == POST
    h.connection.upstream_data(OK)
    assert [x.state for x in h.folded()] == ["completed", "completed"]


def test_the_clocks_stand_still_while_a_request_is_held() -> None:
    h = armed("~m POST", response_timeout=5, body_timeout=5, body_limit=2)
    h.connection.client_data(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabc")
    h.advance(600)  # neither the body clock nor any other runs out
    assert not h.closed()
    release(h, "forward")
    h.open()
    h.advance(4)  # the body clock runs again, from the release
    assert not h.closed()
    h.connection.client_data(b"d")
    h.advance(4)
    assert not h.closed()  # the response clock, from the request's end
    h.advance(2)
    assert h.io.sent("to_client").startswith(b"HTTP/1.1 504 Gateway Timeout")


def test_a_websocket_upgrade_may_be_held_and_its_101_never_is() -> None:
    h = armed("~m GET", "")  # every response
    upgrade = (
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    h.connection.client_data(upgrade)
    assert len(held(h)) == 1
    release(h, "forward")
    h.open()
    switching = (
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    h.connection.upstream_data(switching)
    assert h.io.sent("to_client") == switching
    assert h.connection.tunnel is not None
    assert len(held(h)) == 1


# -- responses ------------------------------------------------------------------------------------


def test_a_held_response_reaches_the_client_only_when_forwarded() -> None:
    h = armed(None, "~c 200")
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    assert h.io.sent("to_client") == b""
    assert ("pause_upstream",) in h.io.log
    (hold,) = held(h)
    assert (hold.what, hold.sender, hold.body, hold.size, hold.editable) == (
        "response",
        "server",
        b"ok",
        2,
        "",
    )
    h.connection.client_data(GET)  # pipelined: waits for this response, as always
    release(h, "forward")
    assert ("resume_upstream",) in h.io.log
    assert h.io.sent("to_client") == OK
    assert h.io.sent("to_upstream") == GET + GET  # the next request went on
    h.connection.upstream_data(OK)  # held too, then forwarded: keep-alive works on
    release(h, "forward")
    assert h.io.sent("to_client") == OK + OK
    assert [releases(x) for x in h.folded()] == [["forwarded"], ["forwarded"]]


def test_an_edited_response_is_what_the_client_gets() -> None:
    h = armed(None, "~b ok")
    h.connection.client_data(GET)
    h.open()
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    h.connection.upstream_data(chunked)
    release(h, "edit", head=b"HTTP/1.1 201 Made\nX-Edited: yes\n", body=b"edited")
    edited = b"HTTP/1.1 201 Made\r\nX-Edited: yes\r\nContent-Length: 6\r\n\r\nedited"
    assert h.io.sent("to_client") == edited
    h.connection.client_data(GET)  # kept alive
    assert h.io.sent("to_upstream") == GET + GET


def test_an_edited_response_is_recorded_as_the_client_got_it() -> None:
    h = armed(None, "~c 200")
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    with pytest.raises(ActionError):
        release(h, "edit", head=b"200 OK", body=b"")
    assert only(h).edits == []  # refused: nothing went instead
    release(h, "edit", head=b"HTTP/1.1 201 Made\n", body=b"edited")
    exchange = only(h)
    (edit,) = exchange.edits
    assert (edit.what, edit.head + b"\r\n" + edit.body) == ("response", h.io.sent("to_client"))
    assert exchange.edit("response") == edit
    assert (exchange.status, exchange.response_body.data) == (200, b"ok")  # as the app sent it


def test_a_response_edit_that_is_no_response_is_refused() -> None:
    h = armed(None, "~c 200")
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    with pytest.raises(ActionError, match="status line"):
        release(h, "edit", head=b"200 OK", body=b"")
    with pytest.raises(ActionError, match="final one"):
        release(h, "edit", head=b"HTTP/1.1 101 Switching", body=b"")
    release(h, "forward")
    assert h.io.sent("to_client") == OK


def test_a_dropped_response_closes_the_clients_connection() -> None:
    h = armed(None, "~c 200")
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    release(h, "drop")
    assert h.io.sent("to_client") == b""
    assert h.closed()
    exchange = only(h)
    assert (exchange.state, releases(exchange)) == ("failed", ["dropped"])
    assert exchange.error is not None
    assert "dropped" in exchange.error.message


def test_a_response_over_the_limit_is_held_then_streams() -> None:
    h = armed(None, "~c 200", body_limit=4)
    h.connection.client_data(GET)
    h.open()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    h.connection.upstream_data(head + b"01234")
    (hold,) = held(h)
    assert (hold.body, hold.size, hold.editable != "") == (b"0123", 10, True)
    release(h, "forward")
    h.connection.upstream_data(b"56789")
    assert h.io.sent("to_client") == head + b"0123456789"
    assert only(h).state == "completed"


def test_a_response_whose_upstream_closes_after_it_waits_whole_for_the_viewer() -> None:
    h = armed(None, "~c 200")
    h.connection.client_data(GET)
    h.open()
    until_close = b"HTTP/1.1 200 OK\r\n\r\nall of it"
    h.connection.upstream_data(until_close)
    assert held(h) == []  # its end is not known yet
    h.connection.upstream_eof()
    h.connection.upstream_lost(None)
    (hold,) = held(h)
    assert (hold.body, hold.size) == (b"all of it", 9)
    release(h, "forward")
    assert h.io.sent("to_client") == until_close
    assert h.closed()  # read until close: the client's connection closes after it
    assert only(h).state == "completed"


def test_the_send_clock_stands_still_while_a_response_is_held() -> None:
    h = armed(None, "~c 200", send_timeout=5)
    h.connection.client_data(GET)
    h.open()
    h.connection.client_full()  # the client reads nothing (of an earlier response)
    h.connection.upstream_data(OK)
    h.advance(60)
    assert not h.closed()
    release(h, "forward")
    h.advance(4)
    assert not h.closed()
    h.advance(2)
    assert h.closed()  # from the release on, it is the client's fault again


def test_a_held_response_whose_client_goes_is_lost_and_its_timer_stops() -> None:
    h = armed(None, "~c 200")
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    h.connection.client_lost()
    timers = h.shared.steering.schedule
    assert isinstance(timers, Timers)
    timers.fire()  # cancelled: nothing happens
    exchange = only(h)
    assert releases(exchange) == ["lost"]
    assert h.shared.steering.holds == {}


def test_release_all_forwards_http_holds_too() -> None:
    h = armed("~m GET")
    h.connection.client_data(GET)
    assert h.shared.steering.release_all("forward") == 1
    h.open()
    assert h.io.sent("to_upstream") == GET


def test_a_responses_rule_sees_its_requests_body() -> None:
    h = armed(None, "~bq secret")
    h.connection.client_data(POST)  # abc: its response is not held
    h.open()
    h.connection.upstream_data(OK)
    assert h.io.sent("to_client") == OK
    h.connection.client_data(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nsecret")
    h.connection.upstream_data(OK)
    assert h.io.sent("to_client") == OK  # the second is held
    (hold,) = held(h)
    assert hold.what == "response"


def test_a_response_to_head_is_edited_without_a_body() -> None:
    h = armed(None, "~m HEAD")
    h.connection.client_data(b"HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n")
    h.open()
    h.connection.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    with pytest.raises(ActionError, match="has no body"):
        release(h, "edit", head=b"HTTP/1.1 200 OK\r\nContent-Length: 99", body=b"x")
    release(h, "edit", head=b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nX-Edited: 1", body=b"")
    edited = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nX-Edited: 1\r\n\r\n"
    assert h.io.sent("to_client") == edited
    assert only(h).state == "completed"


def forwarded(h: Harness) -> int:
    return sum(isinstance(e, ev.RequestForwarded) for x in h.folded() for e in x.events)


def test_a_held_request_is_recorded_forwarded_only_when_it_goes() -> None:
    h = armed("~m POST")
    h.connection.client_data(GET)
    h.open()
    h.connection.upstream_data(OK)
    h.connection.client_data(POST)  # on the open connection, but held
    assert forwarded(h) == 1
    release(h, "forward")
    assert forwarded(h) == 2
    h.connection.upstream_data(OK)
    h.connection.client_data(POST)
    release(h, "drop")
    assert forwarded(h) == 2  # a dropped request never went
