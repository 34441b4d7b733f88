"""HAR and curl exports, from exchanges folded out of events (no I/O but the curl replay).

Every HAR is checked against `har12.schema.json`: the HAR 1.2 spec written strictly (no field
outside the spec but "_"-prefixed custom ones), then its values against what was sent.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import os
import shlex
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from inspector import events as ev
from inspector.observe.exchange import Exchange, fold
from inspector.observe.export import ExportError, curl, curl_all, har, har_json, open_export

XID = "test-1"
MS = 1_000_000
WALL = 1_700_000_000.0  # 2023-11-14T22:13:20Z
SCHEMA = json.loads((Path(__file__).parent / "har12.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
Pairs = tuple[tuple[bytes, bytes], ...]


def started(
    method: str = "GET",
    path: str = "/items",
    query: bytes = b"",
    headers: Pairs = ((b"host", b"example.test"),),
    *,
    kind: str = "http",
    xid: str = XID,
    wall: float = WALL,
    http_version: str = "1.1",
) -> ev.RequestStarted:
    return ev.RequestStarted(
        xid,
        1_000,
        source="asgi",
        kind=kind,  # type: ignore[arg-type]
        method=method,
        scheme="ws" if kind == "websocket" else "http",
        http_version=http_version,
        path=path,
        raw_path=path.encode(),
        query=query,
        headers=headers,
        client=("127.0.0.1", 50000),
        server=("127.0.0.1", 8000),
        wall_time=wall,
        snapshot={},
    )


def http(
    request: ev.RequestStarted,
    body: bytes = b"",
    status: int = 200,
    response_headers: Pairs = (),
    response_body: bytes = b"",
    timings: tuple[int | None, int | None, int] = (1_000_000, 3_500_000, 5_250_000),
) -> Exchange:
    """A finished HTTP exchange: bodies in one chunk each, timings as (request, first, total)."""
    xid = request.exchange_id
    events: list[ev.Event] = [request]
    if body:
        events.append(ev.RequestBodyChunk(xid, 1_100, body, len(body), False))
    events.append(ev.ResponseStarted(xid, 2_000, status, response_headers, False))
    events.append(ev.ResponseBodyChunk(xid, 3_000, response_body, len(response_body), False))
    events.append(ev.ExchangeFinished(xid, 4_000, "completed", *timings))
    return fold(events)[xid]


def entries(*exchanges: Exchange, **options: Any) -> list[dict[str, Any]]:
    log = har(exchanges, creator_version="9.9", **options)
    VALIDATOR.validate(log)
    for entry in log["log"]["entries"]:  # spec: time is the sum of the timings not -1
        timings = [v for k, v in entry["timings"].items() if v != -1]
        assert entry["time"] == pytest.approx(sum(timings), abs=1e-9)
        assert all(v >= 0 for v in timings)
    return log["log"]["entries"]  # type: ignore[no-any-return]


def test_get_with_query_cookies_and_json_response() -> None:
    request = started(
        path="/search",
        query=b"q=caf%C3%A9&tag=a&tag=b&empty=&plus=a+b",
        headers=(
            (b"host", b"example.test"),
            (b"accept", b"*/*"),
            (b"cookie", b"session=abc; theme=dark"),
            (b"accept", b"text/html"),
        ),
    )
    body = b'{"results": ["caf\xc3\xa9"]}'
    log = har(
        [
            http(
                request,
                response_headers=((b"content-type", b"application/json"),),
                response_body=body,
            )
        ],
        creator_version="9.9",
    )
    VALIDATOR.validate(log)
    assert log["log"]["version"] == "1.2"
    assert log["log"]["creator"] == {"name": "inspector", "version": "9.9"}
    [entry] = log["log"]["entries"]
    assert entry["startedDateTime"] == "2023-11-14T22:13:20.000Z"
    assert (entry["time"], entry["timings"]) == (
        5.25,
        {
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "send": 1.0,
            "wait": 2.5,
            "receive": 1.75,
            "ssl": -1,
        },
    )
    req = entry["request"]
    assert req["method"] == "GET"
    assert req["url"] == "http://example.test/search?q=caf%C3%A9&tag=a&tag=b&empty=&plus=a+b"
    assert req["httpVersion"] == "HTTP/1.1"
    assert req["queryString"] == [
        {"name": "q", "value": "café"},
        {"name": "tag", "value": "a"},
        {"name": "tag", "value": "b"},
        {"name": "empty", "value": ""},
        {"name": "plus", "value": "a b"},
    ]
    assert req["headers"] == [
        {"name": "host", "value": "example.test"},
        {"name": "accept", "value": "*/*"},
        {"name": "cookie", "value": "session=abc; theme=dark"},
        {"name": "accept", "value": "text/html"},
    ]
    assert req["cookies"] == [
        {"name": "session", "value": "abc"},
        {"name": "theme", "value": "dark"},
    ]
    assert (req["headersSize"], req["bodySize"]) == (-1, 0)
    assert "postData" not in req
    res = entry["response"]
    assert (res["status"], res["statusText"], res["httpVersion"]) == (200, "OK", "HTTP/1.1")
    assert res["content"] == {
        "size": len(body),
        "mimeType": "application/json",
        "text": '{"results": ["café"]}',
    }
    assert (res["redirectURL"], res["bodySize"], res["cookies"]) == ("", len(body), [])
    assert entry["cache"] == {}
    assert (entry["serverIPAddress"], entry["connection"]) == ("127.0.0.1", "50000")
    assert entry["_inspector"] == {
        "id": XID,
        "source": "asgi",
        "state": "completed",
        "finished": True,
        "truncated": {"request": False, "response": False},
    }


def test_json_post() -> None:
    body = '{"name": "Zoë"}'.encode()
    request = started(
        "POST", headers=((b"host", b"example.test"), (b"content-type", b"application/json"))
    )
    [entry] = entries(http(request, body, 201))
    assert entry["request"]["postData"] == {
        "mimeType": "application/json",
        "text": '{"name": "Zoë"}',
    }
    assert entry["request"]["bodySize"] == len(body)
    assert (entry["response"]["status"], entry["response"]["statusText"]) == (201, "Created")
    assert entry["response"]["content"] == {"size": 0, "mimeType": "x-unknown"}


@pytest.mark.parametrize(
    ("timings", "expected"),
    [
        ((1_234_567, 2_345_678, 9_876_543), (9.877, 1.235, 1.111, 7.531)),
        # the app answered before reading the whole body: nothing runs backwards
        ((5 * MS, 2 * MS, 10 * MS), (10.0, 5.0, 0.0, 5.0)),
        ((None, None, 3 * MS), (3.0, 0.0, 3.0, 0.0)),
        ((2 * MS, 1 * MS, -1), (0.0, 0.0, 0.0, 0.0)),
    ],
)
def test_timings_come_from_exchange_finished(
    timings: tuple[int | None, int | None, int], expected: tuple[float, ...]
) -> None:
    [entry] = entries(http(started(), timings=timings))
    got = entry["timings"]
    assert (entry["time"], got["send"], got["wait"], got["receive"]) == expected


def test_form_post_has_params_and_text() -> None:
    form = b"name=Zo%C3%AB&tags=a&tags=b+c&blank="
    headers = ((b"host", b"example.test"), (b"content-type", b"application/x-www-form-urlencoded"))
    [entry] = entries(http(started("POST", headers=headers), form))
    assert entry["request"]["postData"] == {
        "mimeType": "application/x-www-form-urlencoded",
        "text": form.decode(),
        "params": [
            {"name": "name", "value": "Zoë"},
            {"name": "tags", "value": "a"},
            {"name": "tags", "value": "b c"},
            {"name": "blank", "value": ""},
        ],
    }


def test_binary_bodies_are_base64() -> None:
    upload = b"\x89PNG\r\n\x1a\n\x00\xff"
    image = bytes(range(256))
    request = started("PUT", headers=((b"content-type", b"image/png"),))
    [entry] = entries(
        http(
            request,
            upload,
            response_headers=((b"content-type", b"image/png"),),
            response_body=image,
        )
    )
    # The spec has no postData.encoding: ours is a custom field.
    assert entry["request"]["postData"] == {
        "mimeType": "image/png",
        "text": base64.b64encode(upload).decode(),
        "_encoding": "base64",
    }
    assert entry["response"]["content"] == {
        "size": 256,
        "mimeType": "image/png",
        "text": base64.b64encode(image).decode(),
        "encoding": "base64",
    }
    assert base64.b64decode(entry["response"]["content"]["text"]) == image


def test_declared_charset_decodes_text() -> None:
    headers = ((b"content-type", b"text/plain; charset=latin-1"),)
    [entry] = entries(http(started(), response_headers=headers, response_body=b"caf\xe9"))
    assert entry["response"]["content"]["text"] == "café"
    assert "encoding" not in entry["response"]["content"]


def test_gzip_content_is_decoded_with_compression() -> None:
    text = b"hello " * 100
    packed = gzip.compress(text)
    headers = ((b"content-type", b"text/plain"), (b"content-encoding", b"gzip"))
    [entry] = entries(http(started(), response_headers=headers, response_body=packed))
    assert entry["response"]["content"] == {
        "size": 600,
        "compression": 600 - len(packed),
        "mimeType": "text/plain",
        "text": text.decode(),
    }
    assert entry["response"]["bodySize"] == len(packed)


def test_unknown_content_encoding_stays_as_sent_and_says_so() -> None:
    headers = ((b"content-encoding", b"br"),)
    [entry] = entries(http(started(), response_headers=headers, response_body=b"\x8b\x02\x80"))
    assert entry["response"]["content"]["encoding"] == "base64"
    assert entry["_inspector"]["contentEncoding"] == "br"


def test_redirect_and_duplicate_set_cookies() -> None:
    headers = (
        (b"location", b"/login"),
        (b"set-cookie", b"a=1; Path=/; HttpOnly"),
        (
            b"set-cookie",
            b"b=2=3; Domain=example.test; Secure; Max-Age=60;"
            b" Expires=Wed, 21 Oct 2015 07:28:00 GMT",
        ),
        (b"set-cookie", b"c=; Expires=Wed, 21 Oct 2015 07:28:00 GMT; SameSite=Lax"),
    )
    [entry] = entries(http(started(), status=302, response_headers=headers))
    res = entry["response"]
    assert (res["status"], res["statusText"], res["redirectURL"]) == (302, "Found", "/login")
    assert [h["value"] for h in res["headers"] if h["name"] == "set-cookie"] == [
        v.decode() for _, v in headers[1:]
    ]
    assert res["cookies"] == [
        {"name": "a", "value": "1", "path": "/", "httpOnly": True},
        # RFC 6265: Max-Age wins over Expires
        {
            "name": "b",
            "value": "2=3",
            "domain": "example.test",
            "secure": True,
            "expires": "2023-11-14T22:14:20+00:00",
        },
        {"name": "c", "value": "", "expires": "2015-10-21T07:28:00+00:00"},
    ]


def test_truncated_bodies_export_the_prefix_and_say_so() -> None:
    request = started("POST", headers=((b"content-type", b"text/plain"),))
    exchange = fold(
        [
            request,
            ev.RequestBodyChunk(XID, 1_100, b"abc", 1_000, False),
            ev.ResponseStarted(
                XID, 2_000, 200, ((b"content-type", b"text/plain; charset=utf-8"),), False
            ),
            # the prefix ends inside "é" (c3 a9): that half character is left out
            ev.ResponseBodyChunk(XID, 3_000, b"caf\xc3", 5_000, False),
            ev.ExchangeFinished(XID, 4_000, "completed", 1_000, 2_000, 4_000),
        ]
    )[XID]
    [entry] = entries(exchange)
    assert entry["request"]["postData"]["text"] == "abc"
    assert entry["request"]["bodySize"] == 1_000
    assert entry["response"]["content"] == {
        "size": 5_000,
        "mimeType": "text/plain; charset=utf-8",
        "text": "caf",
    }
    assert entry["response"]["bodySize"] == 5_000
    assert entry["_inspector"]["truncated"] == {"request": True, "response": True}


def test_failed_app_before_a_response() -> None:
    exchange = fold(
        [
            started(),
            ev.AppFailed(XID, 2_000, "ValueError", "boom", "Traceback ...", False),
            ev.ExchangeFinished(XID, 3_000, "failed", None, None, 2_000_000),
        ]
    )[XID]
    [entry] = entries(exchange)
    res = entry["response"]
    assert (res["status"], res["statusText"], res["httpVersion"], res["bodySize"]) == (
        0,
        "",
        "",
        -1,
    )
    assert res["content"] == {"size": 0, "mimeType": "x-unknown"}
    assert (entry["timings"]["send"], entry["timings"]["wait"], entry["timings"]["receive"]) == (
        0.0,
        2.0,
        0.0,
    )
    assert entry["_inspector"]["state"] == "failed"
    assert entry["_inspector"]["error"] == {"type": "ValueError", "message": "boom"}


def test_unfinished_exchange_is_exported_as_far_as_known() -> None:
    exchange = fold(
        [
            started(),
            ev.ResponseStarted(XID, 2_001_000, 200, ((b"content-type", b"text/plain"),), False),
            ev.ResponseBodyChunk(XID, 3_001_000, b"par", 3, True),
        ]
    )[XID]
    [entry] = entries(exchange)
    assert (entry["timings"]["send"], entry["timings"]["wait"], entry["timings"]["receive"]) == (
        0.0,
        2.0,
        1.0,
    )
    assert entry["response"]["content"]["text"] == "par"
    assert entry["_inspector"]["finished"] is False
    assert entry["_inspector"]["state"] == "streaming"


def test_exchanges_without_request_are_skipped_and_entries_sorted_by_start() -> None:
    later = http(started(xid="later", wall=WALL + 5))
    earlier = http(started(xid="earlier", wall=WALL + 1.5))
    orphan = fold([ev.ClientDisconnected("orphan", 1)])["orphan"]
    got = entries(later, orphan, earlier)
    assert [e["_inspector"]["id"] for e in got] == ["earlier", "later"]
    assert got[0]["startedDateTime"] == "2023-11-14T22:13:21.500Z"


def test_websocket_messages_as_chrome_writes_them() -> None:
    request = started(
        path="/chat",
        headers=(
            (b"host", b"example.test"),
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
        ),
        kind="websocket",
    )
    exchange = fold(
        [
            request,
            ev.WebSocketHandshakeReceived(XID, 1_500),
            ev.WebSocketAccepted(XID, 2_000, None, ((b"x-room", b"1"),)),
            ev.WebSocketMessage(XID, 500_001_000, "client", "hello", None, 5),
            ev.WebSocketMessage(XID, 1_000_001_000, "server", None, b"\x00\x01", 2),
            ev.WebSocketMessage(XID, 1_250_001_000, "client", "", None, 0),
            ev.WebSocketMessage(XID, 1_500_001_000, "server", None, b"", 0),
            ev.WebSocketMessage(XID, 1_750_001_000, "server", "ab", None, 100),
            ev.WebSocketMessage(XID, 1_800_001_000, "server", "", None, 3000),  # past budget
            ev.WebSocketClosed(XID, 2_000_001_000, "client", 1000, "bye", True),
            ev.ExchangeFinished(XID, 2_000_002_000, "completed", None, 1_000, 2_000_001_000),
        ]
    )[XID]
    [entry] = entries(exchange)
    assert entry["_resourceType"] == "websocket"
    assert entry["_webSocketMessages"] == [
        {"type": "send", "time": WALL + 0.5, "opcode": 1, "data": "hello"},
        {"type": "receive", "time": WALL + 1.0, "opcode": 2, "data": "AAE="},
        {"type": "send", "time": WALL + 1.25, "opcode": 1, "data": ""},
        {"type": "receive", "time": WALL + 1.5, "opcode": 2, "data": ""},
        {"type": "receive", "time": WALL + 1.75, "opcode": 1, "data": "ab"},
        {"type": "receive", "time": WALL + 1.8, "opcode": 1, "data": ""},
    ]
    assert entry["request"]["url"] == "ws://example.test/chat"
    res = entry["response"]
    assert (res["status"], res["statusText"]) == (101, "Switching Protocols")
    assert res["headers"] == [{"name": "x-room", "value": "1"}]
    notes = entry["_inspector"]
    assert notes["truncated"] == {"request": False, "response": False, "messages": 2}
    assert (notes["messagesDropped"], notes["closed"]) == (0, {"code": 1000, "reason": "bye"})
    assert (notes["payloadsNotKept"], notes["payloadBytesNotKept"]) == (1, 3000)
    assert notes["state"] == "closed"


SECRETS: Pairs = (
    (b"host", b"example.test"),
    (b"Authorization", b"Bearer s3cret"),
    (b"cookie", b"session=abc; theme=dark"),
    (b"X-Api-Key", b"k"),
    (b"x-secret", b"shh"),
    (b"accept", b"*/*"),
)


def test_redaction_masks_headers_and_cookies() -> None:
    exchange = http(
        started(headers=SECRETS),
        response_headers=((b"Set-Cookie", b"id=1; Path=/"), (b"content-type", b"text/plain")),
    )
    [entry] = entries(exchange, redact=True)
    assert [h["value"] for h in entry["request"]["headers"]] == [
        "example.test",
        "[redacted]",
        "[redacted]",
        "[redacted]",
        "shh",
        "*/*",
    ]
    assert entry["request"]["cookies"] == [
        {"name": "session", "value": "[redacted]"},
        {"name": "theme", "value": "[redacted]"},
    ]
    assert entry["response"]["headers"][0] == {"name": "Set-Cookie", "value": "[redacted]"}
    assert entry["response"]["cookies"] == [{"name": "id", "value": "[redacted]", "path": "/"}]
    assert "s3cret" not in har_json([exchange], redact=True)

    [only] = entries(exchange, redact=frozenset({"X-SECRET"}))
    assert [h["value"] for h in only["request"]["headers"]] == [
        v.decode() for _, v in SECRETS[:4]
    ] + ["[redacted]", "*/*"]
    assert only["request"]["cookies"][0] == {"name": "session", "value": "abc"}


def test_har_json_is_the_same_log() -> None:
    exchange = http(started())
    assert json.loads(har_json([exchange], creator_version="1")) == har(
        [exchange], creator_version="1"
    )
    assert har([])["log"]["creator"]["version"]  # the installed package's version


def test_the_schema_is_strict() -> None:
    log = har([http(started())])
    log["log"]["entries"][0]["_custom"] = 1  # custom fields start with "_" (spec)
    VALIDATOR.validate(log)
    log["log"]["entries"][0]["request"]["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(log)
    del log["log"]["entries"][0]["request"]["extra"]
    del log["log"]["entries"][0]["timings"]["wait"]
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(log)


# -- hostile or odd input ----------------------------------------------------------------------


def _strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: UTF-8 encodable, no NaN or Infinity."""
    text.encode("utf-8")

    def reject(constant: str) -> None:
        raise AssertionError(f"{constant} in HAR")

    return json.loads(text, parse_constant=reject)


@pytest.mark.parametrize(
    "charset", ["base64", "hex", "rot13", "zlib", "bz2", "uu", "quopri", "nope"]
)
def test_a_charset_naming_no_text_encoding_falls_back_to_utf8(charset: str) -> None:
    headers = ((b"content-type", f"text/plain; charset={charset}".encode()),)
    request = started("POST", headers=((b"host", b"h"), *headers))
    [entry] = entries(
        http(request, body=b"ab\xc3\xa9", response_headers=headers, response_body=b"abc")
    )
    assert entry["request"]["postData"]["text"] == "abé"
    assert entry["response"]["content"]["text"] == "abc"
    [entry] = entries(http(started(), response_headers=headers, response_body=b"\xff\x00"))
    assert entry["response"]["content"]["encoding"] == "base64"


def test_a_text_encoding_that_fails_gives_base64() -> None:
    headers = ((b"content-type", b"text/plain; charset=undefined"),)  # it raises UnicodeError
    [entry] = entries(http(started(), response_headers=headers, response_body=b"abc"))
    assert entry["response"]["content"]["text"] == "YWJj"
    assert entry["response"]["content"]["encoding"] == "base64"


@pytest.mark.parametrize(
    ("max_age", "expires"),
    [
        ("999999999999", "9999-12-31T23:59:59.999999+00:00"),
        ("99999999999999999", "9999-12-31T23:59:59.999999+00:00"),
        ("9" * 5000, "9999-12-31T23:59:59.999999+00:00"),  # past int()'s digit limit
        ("-99999999999999999", "0001-01-01T00:00:00+00:00"),  # RFC 6265 5.2.2: earliest
        ("0", "0001-01-01T00:00:00+00:00"),
        ("²", "2015-10-21T07:28:00+00:00"),  # not a DIGIT: ignored, Expires holds
        ("1e3", "2015-10-21T07:28:00+00:00"),
    ],
)
def test_max_age_out_of_range_is_clamped(max_age: str, expires: str) -> None:
    cookie = f"a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age={max_age}"
    headers = ((b"set-cookie", cookie.encode("latin-1")),)
    [entry] = entries(http(started(), response_headers=headers))
    assert entry["response"]["cookies"] == [{"name": "a", "value": "1", "expires": expires}]


def test_an_expires_out_of_range_is_left_out() -> None:
    headers = ((b"set-cookie", b"a=1; Expires=Mon, 01 Jan 2020 00:00:00 -99999999999999999999"),)
    [entry] = entries(http(started(), response_headers=headers))
    assert entry["response"]["cookies"] == [{"name": "a", "value": "1"}]


def test_lone_surrogates_become_replacement_characters_in_har_json() -> None:
    request = started(kind="websocket")
    body_headers = ((b"content-type", b"text/plain; charset=unicode_escape"),)
    exchange = fold(
        [
            request,
            ev.WebSocketAccepted(XID, 2_000, None, ()),
            ev.WebSocketMessage(XID, 3_000, "server", "a\ud800b", None, 5),
        ]
    )[XID]
    text_body = http(started(xid="x-2"), response_headers=body_headers, response_body=b"\\udfff")
    [ws, body] = entries(exchange, text_body)
    assert ws["_webSocketMessages"][0]["data"] == "a\ud800b"  # har() keeps the str as is
    assert ws["_inspector"]["truncated"]["messages"] == 0  # 5 bytes with the surrogate
    assert body["response"]["content"]["text"] == "\udfff"
    log = _strict_json(har_json([exchange, text_body]))
    [ws, body] = log["log"]["entries"]
    assert ws["_webSocketMessages"][0]["data"] == "a\ufffdb"
    assert body["response"]["content"]["text"] == "\ufffd"
    VALIDATOR.validate(log)


@pytest.mark.parametrize("wall", [math.nan, math.inf, -math.inf, 1e20, -1e20, -1.0])
def test_an_unknown_wall_time_exports_as_the_epoch(wall: float) -> None:
    request = started(kind="websocket", wall=wall)
    exchange = fold(
        [
            request,
            ev.WebSocketAccepted(XID, 2_000, None, ()),
            ev.WebSocketMessage(XID, 500_001_000, "client", "hi", None, 2),
        ]
    )[XID]
    [entry] = entries(exchange, http(started(xid="x-2")))[:1]
    assert entry["startedDateTime"] == "1970-01-01T00:00:00.000Z"
    assert entry["_wallTimeUnknown"] is True
    assert entry["_webSocketMessages"][0]["time"] == 0.5
    log = _strict_json(har_json([exchange]))
    VALIDATOR.validate(log)
    [known] = entries(http(started()))
    assert "_wallTimeUnknown" not in known


# -- curl ---------------------------------------------------------------------------------------


def test_curl_get_keeps_headers_in_order_and_skips_what_curl_sets() -> None:
    request = started(
        path="/search",
        query=b"q=a b",
        headers=(
            (b"host", b"example.test"),
            (b"accept", b"*/*"),
            (b"x-dup", b"1"),
            (b"connection", b"keep-alive"),
            (b"x-dup", b"2"),
            (b"x-empty", b""),
            (b"user-agent", b"it's me"),
        ),
    )
    command = curl(http(request))
    assert command == (
        "curl 'http://example.test/search?q=a b' -H 'accept: */*' -H 'x-dup: 1' -H 'x-dup: 2'"
        " -H 'x-empty;' -H 'user-agent: it'\"'\"'s me'"
    )
    assert shlex.split(command) == [
        "curl",
        "http://example.test/search?q=a b",
        *("-H", "accept: */*", "-H", "x-dup: 1", "-H", "x-dup: 2", "-H", "x-empty;"),
        *("-H", "user-agent: it's me"),
    ]


def test_curl_post_json_needs_no_method_flag() -> None:
    request = started(
        "POST",
        headers=(
            (b"host", b"example.test"),
            (b"content-type", b"application/json"),
            (b"content-length", b"16"),
        ),
    )
    command = curl(http(request, b'{"name": "Zo\xc3\xab"}'))
    assert command == (
        "curl http://example.test/items -H 'content-type: application/json'"
        ' --data-raw \'{"name": "Zoë"}\''
    )
    assert shlex.split(command)[-2:] == ["--data-raw", '{"name": "Zoë"}']


@pytest.mark.parametrize(
    ("method", "body", "flags"),
    [
        ("GET", b"", []),
        ("HEAD", b"", ["--head"]),
        ("DELETE", b"", ["-X", "DELETE"]),
        ("POST", b"", ["-X", "POST"]),
        ("PUT", b"x", ["-X", "PUT"]),
        ("GET", b"x", ["-X", "GET"]),
        ("POST", b"x", []),
    ],
)
def test_curl_method_flag_only_when_needed(method: str, body: bytes, flags: list[str]) -> None:
    headers = ((b"host", b"example.test"), (b"content-type", b"text/plain"))
    argv = shlex.split(curl(http(started(method, headers=headers), body)))
    assert argv[1 : 1 + len(flags)] == flags
    assert argv[1 + len(flags)] == "http://example.test/items"


def test_curl_body_without_content_type_stops_curl_adding_one() -> None:
    argv = shlex.split(curl(http(started("POST"), b"a=1")))
    assert argv == ["curl", "http://example.test/items", "-H", "Content-Type:", "--data-raw", "a=1"]


def test_curl_binary_bodies() -> None:
    headers = ((b"host", b"example.test"), (b"content-type", b"application/octet-stream"))
    not_utf8 = curl(http(started("POST", headers=headers), b"a'\n\x01\\\xff"))
    assert not_utf8.endswith(" --data-raw $'a\\'\\x0a\\x01\\\\\\xff'")
    # An argument cannot hold a NUL byte: printf writes the body, byte for byte.
    command = curl(http(started("POST", headers=headers), b"\x00a'%\xff"))
    assert command == (
        "printf %b '\\0000a\\0047\\0045\\0377' | curl http://example.test/items"
        " -H 'content-type: application/octet-stream' --data-binary @-"
    )
    text_with_controls = curl(http(started("POST", headers=headers), b"tab\there\r\n'q'"))
    assert text_with_controls.endswith("--data-raw $'tab\\x09here\\x0d\\x0a\\'q\\''")


def test_curl_websocket_handshake_http_versions_globs_and_no_host() -> None:
    request = started(
        path="/chat/[1]",
        headers=(
            (b"host", b"example.test"),
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
        ),
        kind="websocket",
        http_version="1.0",
    )
    exchange = fold([request])[XID]
    assert curl(exchange) == (
        "curl --http1.0 --globoff 'http://example.test/chat/[1]' -H 'upgrade: websocket'"
        " -H 'connection: Upgrade'"
    )
    no_host = fold([started(headers=(), http_version="2")])[XID]
    assert curl(no_host) == "curl --http2 http://127.0.0.1:8000/items"


def test_curl_warns_about_a_cut_body_and_redacts() -> None:
    request = started("POST", headers=SECRETS)
    exchange = fold([request, ev.RequestBodyChunk(XID, 2, b"abc", 10, False)])[XID]
    command = curl(exchange, redact=True)
    assert command.splitlines()[0] == "# request body truncated: 3 of 10 bytes captured"
    argv = shlex.split(command, comments=True)
    assert argv[argv.index("-H") + 1 :: 2][:4] == [
        "Authorization: [redacted]",
        "cookie: [redacted]",
        "X-Api-Key: [redacted]",
        "x-secret: shh",
    ]
    with pytest.raises(ValueError, match="has no request"):
        curl(fold([ev.ClientDisconnected("orphan", 1)])["orphan"])


def test_curl_all_one_command_per_exchange_with_a_request() -> None:
    first = http(started(xid="a", path="/a"))
    second = http(started(xid="b", path="/b"))
    orphan = fold([ev.ClientDisconnected("orphan", 1)])["orphan"]
    assert (
        curl_all([first, orphan, second])
        == "curl http://example.test/a\ncurl http://example.test/b"
    )


# -- curl, for real ------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, list[tuple[str, str]], bytes]]

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.seen.append((self.command, self.path, list(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = _record

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str, list[tuple[str, str]], bytes]]]]:
    seen: list[tuple[str, str, list[tuple[str, str]], bytes]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("GET", b""),
        ("POST", '{"name": "Zoë", "note": "it\'s"}'.encode()),
        ("PUT", b"tab\there\r\nline\x1b"),  # $'...'
        ("PUT", b"\xff\xfe not UTF-8 \xe9\\'"),  # $'...'
        ("PATCH", b"\x00\x01binary\xff'\\%s\n"),  # printf %b | curl --data-binary @-
    ],
)
def test_curl_commands_replay_the_request(
    recorder: tuple[str, list[tuple[str, str, list[tuple[str, str]], bytes]]],
    method: str,
    body: bytes,
) -> None:
    # This machine has /usr/bin/curl; a machine without curl fails here on purpose.
    assert shutil.which("curl"), "this test runs curl"
    assert shutil.which("bash"), "this test runs curl commands under bash"
    authority, seen = recorder
    headers = (
        (b"Host", authority.encode()),
        (b"User-Agent", b"inspector-test"),
        (b"Accept", b"*/*"),
        (b"X-Dup", b"1"),
        (b"X-Dup", b"2"),
        (b"Content-Type", b"application/x-test"),
        (b"X-Latin-1", b"caf\xe9"),
        (b"X-Utf-8", "café\u200b".encode()),
    )
    exchange = http(started(method, "/p/a%20th", b"q=1&r=%20", headers), body)
    subprocess.run(["bash", "-c", curl(exchange) + " --silent --fail"], check=True, timeout=30)
    [(got_method, path, got_headers, got_body)] = seen
    assert (got_method, path, got_body) == (method, "/p/a%20th?q=1&r=%20", body)
    expected = [(n.decode(), v.decode("latin-1")) for n, v in headers]  # as http.server does
    if body:
        expected.append(("Content-Length", str(len(body))))
    assert got_headers == expected


# -- the file an export is written to --------------------------------------------------------


def test_an_export_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "s.har"
    with open_export(path) as file:
        file.write(b"{}\n")
    assert (stat.S_IMODE(path.stat().st_mode), path.read_bytes()) == (0o600, b"{}\n")


def test_an_existing_export_is_replaced_and_made_private(tmp_path: Path) -> None:
    path = tmp_path / "s.har"
    path.write_bytes(b"an older and longer export\n")
    path.chmod(0o644)
    with pytest.raises(FileExistsError):
        open_export(path, replace=False)
    assert path.read_bytes() == b"an older and longer export\n"  # untouched
    with open_export(path) as file:
        assert file.name == str(path)  # what the viewer names in its messages
        file.write(b"{}\n")
    assert (stat.S_IMODE(path.stat().st_mode), path.read_bytes()) == (0o600, b"{}\n")


def test_an_export_never_goes_through_a_symlink_nor_into_a_fifo(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"theirs\n")
    link = tmp_path / "link.har"
    link.symlink_to(target)
    with pytest.raises(ExportError, match=r"is a symbolic link.*remove the link or choose"):
        open_export(link)
    assert target.read_bytes() == b"theirs\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ExportError, match="fifo is not a regular file"):  # and no hang
        open_export(fifo)
