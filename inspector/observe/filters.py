"""Filter expressions over exchanges, in mitmproxy's spirit: `~m GET & ~c 2xx & ~u api`.

`compile_filter(text)` parses an expression once into a `Filter`: a callable telling whether
an exchange matches, shared by the TUI list, exports and headless output. Parsing compiles
every regex up front and builds plain closures; `&` and `|` try their cheapest operands first,
and bodies are searched as bytes where possible, so filtering allocates little per exchange.
Mistakes raise `FilterError` with the position (0-based character offset) to point at:
any text gives a `Filter` or a `FilterError`, never another exception.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from inspector.events import Headers
from inspector.observe.checks import findings, rules_named
from inspector.observe.exchange import Exchange

Test = Callable[[Exchange], bool]


class FilterError(ValueError):
    """A filter expression that cannot be compiled; `position` is where (0-based)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class Filter:
    """A compiled filter: call it with an exchange; `str()` gives the expression back."""

    __slots__ = ("test", "text")

    def __init__(self, test: Test, text: str) -> None:
        self.test = test  # the bare predicate: one call less than the filter, for hot loops
        self.text = text

    def __call__(self, exchange: Exchange) -> bool:
        return self.test(exchange)

    def select(self, exchanges: Iterable[Exchange]) -> list[Exchange]:
        return list(filter(self.test, exchanges))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def compile_filter(text: str) -> Filter:
    """Parse `text` into a `Filter`; empty text matches every exchange."""
    parser = _Parser(text)
    if parser.peek().kind == "end":
        return Filter(lambda x: True, "")
    node = parser.expression()
    token = parser.peek()
    if token.kind != "end":  # only a stray ")" stops an expression early
        raise FilterError(f"unexpected ')' at {token.position}", token.position)
    return Filter(node.test, node.text)


# -- parsing -------------------------------------------------------------------------------------

_TOKENS = re.compile(
    r"""\s*(?:
      (?P<op>[()!&|])
    | (?P<filter>~[^\s()&|]*)
    | "(?P<double>(?:[^"\\]|\\.)*)"
    | '(?P<single>(?:[^'\\]|\\.)*)'
    | (?P<word>[^\s()&|"'][^\s()&|]*)
    | (?P<unclosed>["'])
    )""",
    re.VERBOSE | re.DOTALL,
)
_BARE = re.compile(r"[^\s()&|\"'!~][^\s()&|]*")
# Parentheses cost the parser (and a test) a few stack frames each: far below the recursion
# limit here, far above what a person types.
_MAX_DEPTH = 100


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "!", "&", "|", "filter", "word" or "end"
    value: str
    position: int


@dataclass(frozen=True, slots=True)
class _Node:
    text: str
    test: Test
    cost: int  # a rough price of `test`, to run cheap operands first
    kind: Literal["atom", "not", "and", "or"] = "atom"


def tokens(text: str) -> list[_Token]:
    """`text` split into the filter language's tokens (the intercept rules share them)."""
    tokens, position, end = [], 0, len(text.rstrip())  # rstrip: the same spaces as \s
    while position < end:
        match = _TOKENS.match(text, position)
        assert match is not None  # every non-space character starts some token
        kind = match.lastgroup or ""
        start = match.start(kind)
        if kind == "unclosed":
            raise FilterError(f"unclosed quote at {start}", start)
        value = match.group(kind)
        if kind in ("double", "single"):
            quote = '"' if kind == "double" else "'"
            value = re.sub(r"\\([\\" + quote + "])", r"\1", value)
            kind, start = "word", start - 1
        tokens.append(_Token(value if kind == "op" else kind, value, start))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent: `|` binds loosest, then `&` (or two filters side by side), then `!`."""

    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += token.kind != "end"
        return token

    def expression(self) -> _Node:
        nodes = [self.conjunction()]
        while self.peek().kind == "|":
            self.take()
            nodes.append(self.conjunction())
        return _combine("or", nodes)

    def conjunction(self) -> _Node:
        nodes = [self.negation()]
        while (kind := self.peek().kind) not in ("|", ")", "end"):
            if kind == "&":
                self.take()
            nodes.append(self.negation())
        return _combine("and", nodes)

    def negation(self) -> _Node:
        # A loop, not recursion: "!!!!...~ws" may be any length. Pairs of "!" cancel out.
        count = 0
        while self.peek().kind == "!":
            self.take()
            count += 1
        node = self.atom()
        if not count:
            return node
        inner = node.text if node.kind in ("atom", "not") else f"({node.text})"
        test = node.test
        if count % 2:
            test = _negate(test)
        return _Node("!" * count + inner, test, node.cost, "not")

    def atom(self) -> _Node:
        token = self.take()
        if token.kind == "(":
            if self.depth == _MAX_DEPTH:
                raise FilterError(f"nested too deeply at {token.position}", token.position)
            self.depth += 1
            node = self.expression()
            self.depth -= 1
            if self.take().kind != ")":
                raise FilterError(f"unclosed parenthesis at {token.position}", token.position)
            return node
        if token.kind == "filter":
            return self.filter(token)
        if token.kind == "word":
            return _url("", token.value, token.position)
        previous = self.tokens[self.index - 1].value if self.index else ""
        if token.kind == "end":
            where = f" after '{previous}'" if previous else ""
            raise FilterError(f"expected a filter{where} at {token.position}", token.position)
        if token.kind == ")":
            raise FilterError(f"unexpected ')' at {token.position}", token.position)
        raise FilterError(
            f"'{token.kind}' at {token.position} needs a filter on its left", token.position
        )

    def filter(self, token: _Token) -> _Node:
        name = token.value[1:]
        if name == "check":
            return self.check(token)
        if name in _FLAGS_ONLY:
            test, cost = _FLAGS_ONLY[name]
            return _Node(token.value, test, cost)
        if name not in _WITH_ARGUMENT:
            raise FilterError(f"unknown filter {token.value}", token.position)
        build, wanted = _WITH_ARGUMENT[name]
        argument = self.peek()
        if argument.kind != "word":
            got = f"'{argument.value}'" if argument.value else "the end"
            raise FilterError(f"{token.value} needs {wanted}, got {got}", argument.position)
        self.take()
        return build(token.value, argument.value, argument.position)

    def check(self, token: _Token) -> _Node:
        """`~check` (any finding) or `~check NAME` (a rule, or a prefix such as `asgi`): the
        name is optional, so only a word shaped like a rule name is taken as one."""
        argument = self.peek()
        if argument.kind != "word" or not _RULE_NAME.fullmatch(argument.value):
            return _Node(token.value, lambda x: bool(findings(x)), 5)
        self.take()
        names = frozenset(r.name for r in rules_named(argument.value))
        if not names:
            raise FilterError(
                f"{token.value}: no rule is named {argument.value!r} or starts with it",
                argument.position,
            )
        return _Node(
            f"{token.value} {argument.value.lower()}",
            lambda x: any(f.rule.name in names for f in findings(x)),
            5,
        )


_RULE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9.-]*")


def _combine(kind: Literal["and", "or"], nodes: list[_Node]) -> _Node:
    if len(nodes) == 1:
        return nodes[0]
    looser = ("or",) if kind == "and" else ()
    text = (" & " if kind == "and" else " | ").join(
        f"({n.text})" if n.kind in looser else n.text for n in nodes
    )
    # Filters have no side effects, so operands may run in any order: cheapest first.
    tests = [n.test for n in sorted(nodes, key=lambda n: n.cost)]
    if len(tests) == 2:
        test = (_both if kind == "and" else _either)(*tests)
    else:  # a loop: nested closures would be as deep as the operands are many
        test = (_every if kind == "and" else _some)(tuple(tests))
    return _Node(text, test, sum(n.cost for n in nodes), kind)


def _negate(a: Test) -> Test:
    return lambda x: not a(x)


def _both(a: Test, b: Test) -> Test:
    return lambda x: a(x) and b(x)


def _either(a: Test, b: Test) -> Test:
    return lambda x: a(x) or b(x)


def _every(tests: tuple[Test, ...]) -> Test:
    return lambda x: all(each(x) for each in tests)


def _some(tests: tuple[Test, ...]) -> Test:
    return lambda x: any(each(x) for each in tests)


def _show(argument: str) -> str:
    if _BARE.fullmatch(argument):
        return argument
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- the filters -----------------------------------------------------------------------------


def _compile(name: str, pattern: str, position: int, flags: int = 0) -> re.Pattern[str]:
    where = f" for {name}" if name else ""
    try:
        # A FutureWarning ("Possible nested set") is about a later Python; it is no error here.
        with warnings.catch_warnings(action="ignore"):
            return re.compile(pattern, re.IGNORECASE | flags)
    except re.error as exc:
        raise FilterError(f"invalid regex {pattern!r}{where}: {exc.msg}", position) from None
    except (OverflowError, RecursionError) as exc:  # "a{9999999999}", "((((...": sre's limits
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise FilterError(f"invalid regex {pattern!r}{where}: {message}", position) from None


def _url(name: str, pattern: str, position: int) -> _Node:
    search = _compile(name, pattern, position).search
    shown = f"{name} {_show(pattern)}" if name else _show(pattern)
    return _Node(shown, lambda x: x.request is not None and search(x.url) is not None, 4)


def _method(name: str, argument: str, position: int) -> _Node:
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", argument):  # RFC 9110 5.6.2 token
        raise FilterError(f"{name} needs a method like GET, got {argument!r}", position)
    method = argument.upper()

    def test(x: Exchange) -> bool:
        return x.request is not None and ((m := x.request.method) == method or m.upper() == method)

    return _Node(f"{name} {method}", test, 1)


def _answered(x: Exchange) -> int | None:
    """The status the client got: an app that raised before responding is answered 500 by
    its server (ASGI and PEP 3333 servers alike), which the exchange never records."""
    status = x.status
    if status is None and x.error is not None:
        return 500
    return status


def _status(name: str, argument: str, position: int) -> _Node:
    if re.fullmatch(r"[1-5]\d\d", argument):
        code = int(argument)
        return _Node(f"{name} {code}", lambda x: _answered(x) == code, 2)
    if re.fullmatch(r"[1-5]xx", argument, re.IGNORECASE):
        low = int(argument[0]) * 100
        high = low + 100
        return _Node(
            f"{name} {argument[0]}xx",
            lambda x: (s := _answered(x)) is not None and low <= s < high,
            2,
        )
    raise FilterError(f"{name} needs a status like 404 or 4xx, got {argument!r}", position)


_UNITS = {"us": 1_000, "µs": 1_000, "ms": 1_000_000, "": 1_000_000, "s": 1_000_000_000}
_MAX_NS = 2**63  # durations are int64 nanoseconds (about 292 years)


def _duration(name: str, argument: str, position: int) -> _Node:
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(us|µs|ms|s)?", argument)
    if match is None:
        raise FilterError(
            f"{name} needs a duration like 200ms, 1.5s or 300 (ms), got {argument!r}", position
        )
    limit_ns = float(match.group(1)) * _UNITS[match.group(2) or ""]  # inf for 400 digits
    if not (math.isfinite(limit_ns) and limit_ns < _MAX_NS):
        raise FilterError(f"{name} needs a duration under 292 years, got {argument!r}", position)
    limit = int(limit_ns)

    def test(x: Exchange) -> bool:
        return x.finished is not None and x.finished.total_ns > limit

    return _Node(f"{name} {argument}", test, 1)


def _source(name: str, argument: str, position: int) -> _Node:
    source = argument.lower()
    if source not in ("asgi", "wsgi", "proxy"):
        raise FilterError(f"{name} needs asgi, wsgi or proxy, got {argument!r}", position)
    return _Node(
        f"{name} {source}", lambda x: x.request is not None and x.request.source == source, 1
    )


def _lines(headers: Headers) -> str:
    return b"\n".join(n + b": " + v for n, v in headers).decode("latin-1")


def _request_headers(x: Exchange) -> str:
    return _lines(x.request.headers) if x.request is not None else ""


def _response_headers(x: Exchange) -> str:
    head = x.denied or x.accepted or x.response
    lines = [_lines(head.headers)] if head is not None else []
    lines += [_lines(t.headers) for t in x.trailers]
    return "\n".join(lines)


def _headers(name: str, argument: str, position: int) -> _Node:
    search = _compile(name, argument, position, re.MULTILINE).search
    request, response = name != "~hs", name != "~hq"
    return _Node(
        f"{name} {_show(argument)}",
        lambda x: (
            (request and search(_request_headers(x)) is not None)
            or (response and search(_response_headers(x)) is not None)
        ),
        6,
    )


def _content_type(headers: Headers) -> str:
    for n, v in headers:
        if n.lower() == b"content-type":
            return v.decode("latin-1")
    return ""


def _types(name: str, argument: str, position: int) -> _Node:
    search = _compile(name, argument, position).search
    request, response = name != "~ts", name != "~tq"

    def test(x: Exchange) -> bool:
        if request and x.request is not None and search(_content_type(x.request.headers)):
            return True
        head = x.denied or x.response
        return response and head is not None and search(_content_type(head.headers)) is not None

    return _Node(f"{name} {_show(argument)}", test, 3)


def _bodies(name: str, argument: str, position: int) -> _Node:
    search_text = _compile(name, argument, position).search
    search_raw: Callable[[bytes | bytearray], object]
    try:  # bytes searched as they are: no decoding for ASCII patterns
        with warnings.catch_warnings(action="ignore"):
            search_raw = re.compile(argument.encode("ascii"), re.IGNORECASE).search
    except (UnicodeEncodeError, re.error, OverflowError, RecursionError):
        search_raw = lambda data: search_text(data.decode("utf-8", "replace"))  # noqa: E731

    request, response = name != "~bs", name != "~bq"

    def test(x: Exchange) -> bool:
        if request and x.request_body.data and search_raw(x.request_body.data):
            return True
        if response and x.response_body.data and search_raw(x.response_body.data):
            return True
        for m in x.messages:
            if (request if m.sender == "client" else response) and (
                search_text(m.text) if m.text is not None else search_raw(m.data or b"")
            ):
                return True
        return False

    return _Node(f"{name} {_show(argument)}", test, 8)


def _failed(x: Exchange) -> bool:
    return (
        x.error is not None
        or (x.finished is not None and x.finished.outcome == "failed")
        or ((status := x.status) is not None and status >= 500)
        or (x.closed is not None and x.closed.code == 1011)  # RFC 6455 7.4.1: internal error
    )


_FLAGS_ONLY: dict[str, tuple[Test, int]] = {
    "ws": (lambda x: x.request is not None and x.request.kind == "websocket", 1),
    "e": (_failed, 2),
    # A proxy exchange paired with the app's record of the same request (`pairing`).
    "paired": (lambda x: x.pair is not None, 1),
}
_WITH_ARGUMENT: dict[str, tuple[Callable[[str, str, int], _Node], str]] = {
    "m": (_method, "a method like GET"),
    "c": (_status, "a status like 404 or 4xx"),
    "u": (_url, "a regex to search URLs for"),
    "h": (_headers, "a regex to search headers for"),
    "hq": (_headers, "a regex to search request headers for"),
    "hs": (_headers, "a regex to search response headers for"),
    "b": (_bodies, "a regex to search bodies for"),
    "bq": (_bodies, "a regex to search request bodies for"),
    "bs": (_bodies, "a regex to search response bodies for"),
    "t": (_types, "a regex to search content types for"),
    "tq": (_types, "a regex to search the request's content type for"),
    "ts": (_types, "a regex to search the response's content type for"),
    "d": (_duration, "a duration like 200ms, 1.5s or 300 (ms)"),
    "src": (_source, "asgi, wsgi or proxy"),
}
