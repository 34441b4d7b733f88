"""Which headers hold secrets, and masking them: one list for capture, exports and sessions.

`SENSITIVE_HEADERS` names the usual secrets (lower case). `redaction_names` turns a caller's
`redact` argument (True, False, or header names) into the set to mask, and `mask_headers`
replaces those headers' values while keeping every name, its order and its duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from inspector.events import JSON, Headers

REDACTED = "[redacted]"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)


def redaction_names(redact: bool | Iterable[str]) -> frozenset[str]:
    """The lower-case header names to mask: True means `SENSITIVE_HEADERS`, False none."""
    if redact is True:
        return SENSITIVE_HEADERS
    if redact is False:
        return frozenset()
    if isinstance(redact, str):  # one name, not its letters
        redact = (redact,)
    return frozenset(name.lower() for name in redact)


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
