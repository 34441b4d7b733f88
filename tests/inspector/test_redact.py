"""`inspector.redact`: one reading of every `redact=` argument, and masking that keeps each
header's name, order and duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from inspector.redact import (
    SENSITIVE_HEADERS,
    mask_headers,
    mask_snapshot,
    recorded_names,
    redaction_names,
)

REDACT_CASES: list[tuple[Any, frozenset[str]]] = [
    ("authorization", frozenset({"authorization"})),  # one name, not its letters
    ("X-Api-Key", frozenset({"x-api-key"})),
    (["Authorization", "X-Secret"], frozenset({"authorization", "x-secret"})),
    (("Cookie", "cookie"), frozenset({"cookie"})),
    (True, SENSITIVE_HEADERS),
    (False, frozenset()),
    (None, frozenset()),
]
"""Every form `redact=` takes, and the names it means: shared by the tests of each user."""


@pytest.mark.parametrize(("redact", "names"), REDACT_CASES)
def test_redaction_names(redact: Any, names: frozenset[str]) -> None:
    assert redaction_names(redact) == names


@pytest.mark.parametrize(("redact", "names"), REDACT_CASES)
def test_recorded_names_are_sorted_bytes_or_none(redact: Any, names: frozenset[str]) -> None:
    assert recorded_names(redact) == (sorted(name.encode() for name in names) or None)


@pytest.mark.parametrize("redact", [1, [b"authorization"], ["authorization", 2], b"cookie"])
def test_anything_else_is_refused_by_name(redact: Any) -> None:
    with pytest.raises(TypeError, match="redact takes True, False, None, a header name or"):
        redaction_names(redact)


def test_mask_headers_keeps_names_order_and_duplicates() -> None:
    headers = ((b"Cookie", b"a=1"), (b"Accept", b"*/*"), (b"cookie", b"b=2"))
    assert mask_headers(headers, redaction_names("COOKIE")) == (
        (b"Cookie", b"[redacted]"),
        (b"Accept", b"*/*"),
        (b"cookie", b"[redacted]"),
    )
    assert mask_headers(headers, redaction_names(None)) is headers


def test_mask_snapshot_masks_asgi_headers_and_wsgi_environ_keys() -> None:
    snapshot = {"headers": [["authorization", "t"], ["host", "h"]], "HTTP_AUTHORIZATION": "t"}
    assert mask_snapshot(snapshot, redaction_names("Authorization")) == {
        "headers": [["authorization", "[redacted]"], ["host", "h"]],
        "HTTP_AUTHORIZATION": "[redacted]",
    }
