"""What the proxy answers itself (502, 504, 400, 421, 405), and that each is an exchange.

Malformed input is sent on raw sockets; after each case the proxy must still serve a normal
request on a new connection.
"""

from __future__ import annotations

import httpx
import pytest

from inspector import events as ev
from tests.inspector.proxy.conftest import MakeProxy, RunningProxy
from tests.servers import Server, free_port, raw_request, without_date


def kinds(events: list[ev.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def assert_still_serving(proxy: RunningProxy) -> None:
    assert httpx.get(proxy.url + "/plain").content == b"hello"


def assert_answered(response: bytes, status: int, reason: str, text: str) -> None:
    body = f"{status} {reason}: {text}\n".encode()
    assert response == (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s"
        % (status, reason.encode(), len(body), body)
    )


def test_upstream_down_gives_502(make_proxy: MakeProxy) -> None:
    port = free_port()
    proxy = make_proxy(upstream=("127.0.0.1", port))
    response = raw_request(proxy.port, b"GET /x?y=1 HTTP/1.1\r\nHost: test\r\n\r\n")
    text = f"upstream 127.0.0.1:{port} refused the connection"
    assert_answered(response, 502, "Bad Gateway", text)
    (exchange,) = proxy.exchanges(1)
    assert kinds(exchange.events) == [
        "RequestStarted",
        "RequestBodyChunk",
        "AppFailed",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    assert exchange.error is not None
    assert (exchange.error.type, exchange.error.message) == ("ConnectionRefusedError", text)
    assert exchange.status == 502
    assert exchange.state == "failed"
    assert bytes(exchange.response_body.data).startswith(b"502 Bad Gateway: upstream")
    assert exchange.finished is not None
    assert exchange.finished.outcome == "failed"


def test_upstream_timeout_gives_504(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(response_timeout=0.3)
    response = raw_request(proxy.port, b"GET /slow?s=1 HTTP/1.1\r\nHost: test\r\n\r\n")
    text = f"upstream {proxy.proxy.config.upstream_text} sent no response within 0.3 s"
    assert_answered(response, 504, "Gateway Timeout", text)
    (exchange,) = proxy.exchanges(1)
    assert exchange.error is not None
    assert exchange.error.type == "TimeoutError"
    assert exchange.status == 504
    assert exchange.state == "failed"
    assert_still_serving(proxy)


MALFORMED = {
    "bad request line": (b"GET /x\r\nHost: a\r\n\r\n", "malformed request line"),
    "space before colon": (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "malformed header field"),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "malformed header field"),
    "bad content-length": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
        "bad Content-Length",
    ),
    "conflicting content-length": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "conflicting Content-Length values",
    ),
    "te and cl": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "unusable Transfer-Encoding",
    ),
    "header section too large": (
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 70_000 + b"\r\n\r\n",
        "header section too large",
    ),
    "http/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "malformed request line"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_request_gives_400(proxy: RunningProxy, case: str) -> None:
    raw, text = MALFORMED[case]
    assert_answered(raw_request(proxy.port, raw), 400, "Bad Request", text)
    (exchange,) = proxy.exchanges(1)
    assert kinds(exchange.events) == [
        "RequestStarted",
        "AppFailed",
        "ResponseStarted",
        "ResponseBodyChunk",
        "ExchangeFinished",
    ]
    assert exchange.error is not None
    assert (exchange.error.type, exchange.error.message) == ("inspector.proxy.BadRequest", text)
    assert exchange.status == 400
    assert exchange.state == "failed"
    assert_still_serving(proxy)


def test_bad_chunk_size_after_the_head_went_upstream(proxy: RunningProxy) -> None:
    raw = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    assert_answered(raw_request(proxy.port, raw), 400, "Bad Request", "bad chunk size line")
    (exchange,) = proxy.exchanges(1)
    request = exchange.request
    assert request is not None
    assert (request.method, request.path) == ("POST", "/echo")
    assert exchange.status == 400
    assert exchange.state == "failed"
    assert_still_serving(proxy)


def test_pipelined_bad_request_is_answered_after_the_good_ones(
    upstream: Server, proxy: RunningProxy
) -> None:
    raw = b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost : a\r\n\r\n"
    response = raw_request(proxy.port, raw)
    first, _, second = response.partition(b"0\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert first.endswith(b"hello\r\n")
    assert_answered(second, 400, "Bad Request", "malformed header field")
    assert [x.status for x in proxy.exchanges(2)] == [200, 400]


@pytest.mark.parametrize(
    "target",
    [
        b"http://example.com/",
        b"http://127.0.0.1:1/x",
        b"https://evil.test:443/",
        # The authority ends at "#": the "@" after it is no userinfo separator (RFC 3986 §3.2).
        b"http://evil.com#@127.0.0.1:{port}/",
        # WHATWG URL parsers read "\\" as "/": to them this names evil.com.
        b"http://evil.com\\@127.0.0.1:{port}/",
    ],
)
def test_never_an_open_proxy(upstream: Server, proxy: RunningProxy, target: bytes) -> None:
    target = target.replace(b"{port}", b"%d" % upstream.port)
    raw = b"GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % target
    response = raw_request(proxy.port, raw)
    assert response.startswith(b"HTTP/1.1 421 Misdirected Request\r\n")
    upstream_text = proxy.proxy.config.upstream_text
    assert b"only forwards to " + upstream_text.encode() in response
    (exchange,) = proxy.exchanges(1)
    assert exchange.error is not None
    assert exchange.error.type == "inspector.proxy.MisdirectedRequest"
    assert exchange.status == 421
    assert_still_serving(proxy)


def test_connect_is_refused(proxy: RunningProxy) -> None:
    response = raw_request(proxy.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")


def test_absolute_form_naming_the_upstream_is_forwarded(
    upstream: Server, proxy: RunningProxy
) -> None:
    target = f"http://127.0.0.1:{upstream.port}/plain?q=1".encode()
    raw = b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target
    # Forwarded as sent: what the target means is the upstream's to say (uvicorn: a 404).
    direct = without_date(raw_request(upstream.port, raw))
    assert without_date(raw_request(proxy.port, raw)) == direct
    (exchange,) = proxy.exchanges(1)
    assert exchange.request is not None
    assert (exchange.request.raw_path, exchange.request.query) == (b"/plain", b"q=1")


def test_upstream_failing_mid_response(proxy: RunningProxy) -> None:
    response = raw_request(proxy.port, b"GET /error-after HTTP/1.1\r\nHost: test\r\n\r\n")
    assert response.endswith(b"7\r\npartial\r\n")
    (exchange,) = proxy.exchanges(1)
    assert exchange.error is not None
    assert exchange.error.type == "inspector.proxy.UpstreamClosed"
    assert exchange.error.response_started
    assert exchange.state == "failed"
    assert bytes(exchange.response_body.data) == b"partial"
