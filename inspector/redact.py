"""Which headers hold secrets, and masking them: one list for capture, exports and sessions.

`SENSITIVE_HEADERS` names the usual secrets (lower case). `redaction_names` is the one reading
of a caller's `redact` argument (True, False, None, one header name or several) that the
middlewares, the proxy, exports and sessions all use; `recorded_names` is the same set as
capture records carry it. `mask_headers` replaces those headers' values while keeping every
name, its order and its duplicates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import TypeAlias

from inspector.events import JSON, Headers

REDACTED = "[redacted]"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)

Redact: TypeAlias = bool | str | Iterable[str] | None
"""What `redact=` takes: True (the usual secrets), False or None (nothing), or header names."""


def redaction_names(redact: Redact) -> frozenset[str]:
    """The lower-case header names to mask: True means `SENSITIVE_HEADERS`, False and None
    none, a string that one header (a string is iterable: read letter by letter it would
    mask headers named "a", "u", ...)."""
    if redact is True:
        return SENSITIVE_HEADERS
    if redact is False or redact is None:
        return frozenset()
    names: tuple[object, ...] = (redact,)
    if not isinstance(redact, str):
        with contextlib.suppress(TypeError):  # not iterable: refused below
            names = tuple(redact)  # read once: it may be a generator
    strings = [name.lower() for name in names if isinstance(name, str)]
    if len(strings) == len(names):
        return frozenset(strings)
    raise TypeError(
        f"redact takes True, False, None, a header name or names (strings), not {redact!r}"
    )


def recorded_names(redact: Redact) -> list[bytes] | None:
    """`redaction_names` as capture records carry them: sorted latin-1 bytes, None for none."""
    return sorted(name.encode("latin-1") for name in redaction_names(redact)) or None


def mask_headers(headers: Headers, names: Iterable[str]) -> Headers:
    """`headers` with the value of every header named in `names` (any case) replaced."""
    wanted = {name.lower().encode("latin-1") for name in names}
    if not wanted:
        return headers
    masked = REDACTED.encode()
    return tuple((n, masked if n.lower() in wanted else v) for n, v in headers)


def mask_snapshot(snapshot: Mapping[str, JSON], names: Iterable[str]) -> dict[str, JSON]:
    """A JSON-safe scope or environ with those headers masked (ASGI `headers`, WSGI HTTP_*)."""
    wanted = {name.lower() for name in names}
    environ_keys = {"HTTP_" + name.upper().replace("-", "_") for name in wanted}
    masked = dict(snapshot)
    for key in environ_keys & masked.keys():
        masked[key] = REDACTED
    headers = masked.get("headers")
    if isinstance(headers, list):  # an ASGI scope's [[name, value], ...]
        masked["headers"] = [
            [pair[0], REDACTED]
            if isinstance(pair, list) and len(pair) == 2 and str(pair[0]).lower() in wanted
            else pair
            for pair in headers
        ]
    return masked
