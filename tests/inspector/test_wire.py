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


def test_hello_round_trip() -> None:
    line = wire.hello("abc", "web-1", 42, "gunicorn", "s3cret")
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    hello = wire.check_hello(line, "s3cret")
    assert (hello["prefix"], hello["host"], hello["pid"], hello["name"]) == (
        "abc",
        "web-1",
        42,
        "gunicorn",
    )
    assert wire.check_hello(wire.hello("abc", "h", 1, "", None), None)["pid"] == 1


@pytest.mark.parametrize(
    ("line", "token", "error"),
    [
        (b"GET / HTTP/1.1\r\n", None, "expected a hello line"),
        (b'{"protocol": "other"}\n', None, "expected a inspector-events hello"),
        (
            json.dumps({"protocol": wire.PROTOCOL, "v": 99, "prefix": "a", "pid": 1}).encode(),
            None,
            "protocol version 99 not supported",
        ),
        (wire.hello("a", "h", 1, "", None), "s3cret", "wrong or missing token"),
        (wire.hello("a", "h", 1, "", "guess"), "s3cret", "wrong or missing token"),
        (wire.hello("", "h", 1, "", None), None, "prefix and pid"),
    ],
)
def test_bad_hellos_say_why(line: bytes, token: str | None, error: str) -> None:
    with pytest.raises(wire.WireError, match=error):
        wire.check_hello(line, token)


def test_replies() -> None:
    assert json.loads(wire.reply())["welcome"] is True
    assert json.loads(wire.reply("wrong or missing token"))["error"] == "wrong or missing token"
