"""HTTP/1.1 request and status lines and field lines: the grammar both the proxy (which checks
heads before forwarding them) and the observer (which reads the heads the proxy recorded) use.
"""

from __future__ import annotations

import re

TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# RFC 9112 §3: request-line = method SP request-target SP HTTP-version CRLF.
REQUEST_LINE = re.compile(rb"(" + TOKEN + rb") ([^\x00-\x20\x7f]+) HTTP/1\.([01])\r\n")
# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ] (SP tolerated).
STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?\r\n")
# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS; no whitespace before the
# colon (§5.1), no obs-fold (§5.2), no CR, LF or NUL in values (RFC 9110 §5.5): all rejected.
FIELD_LINES = re.compile(rb"(?:" + TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r\n)*")


def parse_fields(block: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """Field lines (already validated) as ordered (name, value) pairs, case kept."""
    fields = []
    for line in block.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b":")
            fields.append((name, value.strip(b" \t")))
    return tuple(fields)
