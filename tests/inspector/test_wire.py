"""Bus addresses and the hello exchange, with no I/O."""

from __future__ import annotations

import json

import pytest

from inspector import wire


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unix:/run/x.sock", wire.Address("unix", path="/run/x.sock")),
        ("tcp://127.0.0.1:7999", wire.Address("tcp", host="127.0.0.1", port=7999)),
        ("tcp://[::1]:7999", wire.Address("tcp", host="::1", port=7999)),
        ("0.0.0.0:80", wire.Address("tcp", host="0.0.0.0", port=80)),
        (":7999", wire.Address("tcp", host="127.0.0.1", port=7999)),
    ],
)
def test_parse_address(text: str, expected: wire.Address) -> None:
    assert wire.parse_address(text) == expected
    assert wire.parse_address(str(expected)) == expected


@pytest.mark.parametrize("text", ["unix:", "tcp://host", "localhost:http", "tcp://h:70000", ""])
def test_parse_address_refuses_nonsense(text: str) -> None:
    with pytest.raises(wire.WireError, match="address"):
        wire.parse_address(text)


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("unix:/x", True),
        (":1", True),
        ("localhost:1", True),
        ("[::1]:1", True),
        ("0.0.0.0:1", False),
        ("10.0.0.2:1", False),
        ("example.com:1", False),
    ],
)
def test_loopback(text: str, loopback: bool) -> None:
    assert wire.parse_address(text).is_loopback is loopback


def test_environment_chooses_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTOR_BUS", "tcp://127.0.0.1:7000")
    assert wire.address_from_env() == wire.Address("tcp", host="127.0.0.1", port=7000)
    monkeypatch.setenv("INSPECTOR_BUS", "off")
    assert wire.address_from_env() is None
    monkeypatch.delenv("INSPECTOR_BUS")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent-dir")
    default = wire.address_from_env()
    assert default is not None
    assert default.kind == "unix"
    assert default.path.endswith(".sock")


def hello(prefix: str = "a", token: str | None = None, **changes: object) -> bytes:
    line = wire.hello(prefix, "web-1", 42, "gunicorn", token, wall_offset_ns=1_700)
    return json.dumps({**json.loads(line), **changes}).encode() + b"\n"


def test_hello_round_trip() -> None:
    line = wire.hello("abc", "web-1", 42, "gunicorn", "s3cret", wall_offset_ns=-5)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    hello = wire.check_hello(line, "s3cret")
    assert (hello["prefix"], hello["host"], hello["pid"], hello["name"]) == (
        "abc",
        "web-1",
        42,
        "gunicorn",
    )
    assert (hello["v"], hello["wall_offset_ns"]) == (2, -5)
    assert wire.check_hello(wire.hello("abc", "h", 1, "", None, 0), None)["pid"] == 1


@pytest.mark.parametrize(
    ("line", "token", "error"),
    [
        (b"GET / HTTP/1.1\r\n", None, "expected a hello line"),
        (b'{"protocol": "other"}\n', None, "expected a inspector-events hello"),
        (b"[1]\n", None, "expected a inspector-events hello"),
        (hello(v=1), None, "protocol version 1 not supported \\(this is 2\\)"),
        (hello(v=99), None, "protocol version 99 not supported"),
        (hello(v="2"), None, "protocol version '2' not supported"),
        (hello(), "s3cret", "wrong or missing token"),
        (hello(token="guess"), "s3cret", "wrong or missing token"),
        (hello(token=5), "s3cret", "wrong or missing token"),
        (hello(""), None, "prefix and pid"),
        (hello(pid=True), None, "prefix and pid"),
        (hello(pid="42"), None, "prefix and pid"),
        (hello(wall_offset_ns=None), None, "wall-clock offset"),
        (hello(wall_offset_ns=1.5), None, "wall-clock offset"),
        (b"[" * 100_000 + b"]" * 100_000, None, "expected a"),
    ],
)
def test_bad_hellos_say_why(line: bytes, token: str | None, error: str) -> None:
    with pytest.raises(wire.WireError, match=error):
        wire.check_hello(line, token)


def test_a_hello_without_a_token_is_welcome_where_none_is_asked() -> None:
    assert wire.check_hello(hello(token="anything"), None)["prefix"] == "a"


def test_replies() -> None:
    welcome = json.loads(wire.reply())
    assert (welcome["protocol"], welcome["v"], welcome["welcome"]) == (wire.PROTOCOL, 2, True)
    refusal = json.loads(wire.reply("wrong or missing token"))
    assert refusal["error"] == "wrong or missing token"
    assert "welcome" not in refusal


# -- frames -------------------------------------------------------------------------------------


def test_a_frame_is_a_length_and_a_payload() -> None:
    assert wire.frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert wire.frame(b"") == b"\x00\x00\x00\x00"


def test_frames_split_across_feeds_are_put_back_together() -> None:
    reader = wire.FrameReader()
    stream = wire.frame(b"hello") + wire.frame(b"") + wire.frame(b"x" * 1000)
    payloads = []
    for n in range(len(stream)):  # one byte at a time
        payloads += reader.feed(stream[n : n + 1])
        if n == 6:
            assert reader.pending == 7  # a frame begun, not finished
    assert payloads == [b"hello", b"", b"x" * 1000]
    assert reader.pending == 0


def test_several_frames_in_one_feed() -> None:
    reader = wire.FrameReader()
    stream = wire.frame(b"one") + wire.frame(b"two") + wire.frame(b"three")
    assert reader.feed(stream + b"\x00\x00") == [b"one", b"two", b"three"]
    assert reader.pending == 2
    assert reader.feed(b"\x00\x01!") == [b"!"]


def test_a_frame_over_the_limit_is_refused_before_it_is_read() -> None:
    reader = wire.FrameReader(max_frame=10)
    assert reader.feed(wire.frame(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(wire.WireError, match="a frame of 11 bytes is over the 10 limit"):
        reader.feed((11).to_bytes(4, "big"))  # no payload yet: the length alone is enough
    with pytest.raises(wire.WireError, match="over the"):
        wire.FrameReader().feed((wire.MAX_FRAME + 1).to_bytes(4, "big"))


def test_a_frame_begun_can_be_forgotten() -> None:
    reader = wire.FrameReader()
    assert reader.feed(wire.frame(b"x" * 100)[:50]) == []
    assert reader.pending == 50
    reader.clear()  # a refused peer's bytes are freed at once
    assert reader.pending == 0
    assert reader.feed(wire.frame(b"next")) == [b"next"]
