"""The apps of the framework x server matrix (`tests/stacks`), one module per framework.

Every app answers the same four things, each in its framework's own idiom: `GET /hello`
(a body naming the `X-Dup` request header as the framework saw it; response headers with two
Set-Cookie), `POST /echo` (the request body read by the framework, sent back), `GET /stream`
(`PARTS`, streamed one by one) and, where the stack has WebSocket, `/ws` (an echo that closes
with 4001 "bye" when told "close"). Each module has the bare app and the app wrapped in code
with the one line its README row shows; neither knows it is under test.
"""

from __future__ import annotations

HEADERS = [
    ("Content-Type", "text/plain"),
    ("Set-Cookie", "a=1"),
    ("X-Mixed-Case", "kept"),
    ("Set-Cookie", "b=2"),
]
PARTS = [b"one\n", b"two\n", b"three\n"]
CLOSE_CODE, CLOSE_REASON = 4001, "bye"
