"""`parse_address` and `ProxyConfig`: the forms the CLI accepts, and clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from inspector.proxy import ProxyConfig, parse_address
from inspector.proxy.state import Shared
from inspector.records import RecordBuffer
from tests.inspector.test_redact import REDACT_CASES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8000", ("127.0.0.1", 8000)),
        (":8000", ("127.0.0.1", 8000)),
        ("localhost:8000", ("localhost", 8000)),
        ("http://10.0.0.2:8000", ("10.0.0.2", 8000)),
        ("http://example.com:80/", ("example.com", 80)),
        ("[::1]:9000", ("::1", 9000)),
        ("0", ("127.0.0.1", 0)),
        # A host alone means port 80, as curl reads it; a bare number stays a port.
        ("localhost", ("localhost", 80)),
        ("http://example.com", ("example.com", 80)),
        ("http://example.com/", ("example.com", 80)),
        ("10.0.0.2", ("10.0.0.2", 80)),
        ("[::1]", ("::1", 80)),
        ("http://[::1]", ("::1", 80)),
        ("http://8000", ("127.0.0.1", 8000)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


def test_parse_address_default_host() -> None:
    assert parse_address(":80", default_host="0.0.0.0") == ("0.0.0.0", 80)


@pytest.mark.parametrize(
    "text",
    ["", "http://", "https://a:1", "https://a", "a:70000", "70000", "123456", "a:1/x", "1 2", ":"],
)
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"expected PORT, :PORT, HOST, HOST:PORT or http://HOST\[:PORT\]"
    ):
        parse_address(text)


def test_config() -> None:
    config = ProxyConfig(upstream=("::1", 8000), redact=["X-Secret"])
    assert config.upstream_text == "[::1]:8000"
    assert config.redact == frozenset({"x-secret"})
    assert config.body_limit == 1 << 20
    assert config.response_timeout == 60
    assert (config.idle_timeout, config.header_timeout) == (75, 60)
    with pytest.raises(ValueError, match="body_limit"):
        ProxyConfig(upstream=("a", 1), body_limit=-1)


@pytest.mark.parametrize(
    "option", ["connect_timeout", "response_timeout", "idle_timeout", "header_timeout"]
)
@pytest.mark.parametrize("value", [0, -1.0, float("nan")])
def test_config_rejects_timeouts(option: str, value: float) -> None:
    with pytest.raises(ValueError, match="timeouts must be > 0"):
        ProxyConfig(upstream=("a", 1), **{option: value})


@pytest.mark.parametrize(("redact", "names"), REDACT_CASES)
def test_config_redact_takes_every_form(redact: Any, names: frozenset[str]) -> None:
    config = ProxyConfig(upstream=("a", 1), redact=redact)
    assert config.redact == names
    shared = Shared(config, RecordBuffer(), 8080)
    assert shared.redact == (sorted(name.encode() for name in names) or None)
