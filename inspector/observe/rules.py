"""Intercept and message filters in the `~` language, compiled into `inspector.matching.Rule`s.

`compile_rule(text, kind)` reads the exchange filter's grammar (`!`, `&` or juxtaposition,
`|`, parentheses, quoted arguments) with the terms that make sense for `kind`:
- "messages": `~from client|server`, `~text`, `~binary`, `~size OP N` (`>1k`, `<=100`,
  `=0`; k and m are 1024 and 1024²), `~b RE` (any payload), `~bq RE` (the client's),
  `~bs RE` (the server's); a bare word is `~b`.
- "requests": `~m`, `~u`, `~h`/`~hq`, `~b`/`~bq`, `~t`/`~tq`, `~size`; a bare word is `~u`.
- "responses": those, plus `~c`, `~hs`, `~bs`, `~ts`.
Mistakes raise `FilterError` with the position, as the exchange filter does. The result is a
plain tree the relay evaluates (`matching.matches`); `message_subject(event)` gives what a
recorded `WebSocketMessage` is to it, so the Messages tab filters with the same rules.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Literal

from inspector import matching as m
from inspector.events import WebSocketMessage
from inspector.observe.filters import FilterError, tokens

Kind = Literal["messages", "requests", "responses"]

_MAX_DEPTH = 100
_SIZE = re.compile(r"(<=|>=|<|>|=)?(\d+)([kKmM]?)")
Token = tuple[
    str, str, int
]  # kind ("(", ")", "!", "&", "|", "filter", "word", "end"), value, position


def compile_rule(text: str, kind: Kind) -> m.Rule:
    """`text` as a rule for `kind`; empty text matches everything (`Anything`)."""
    parser = _Parser(text, kind)
    if parser.peek()[0] == "end":
        return m.Anything()
    rule = parser.expression()
    token = parser.peek()
    if token[0] != "end":
        raise FilterError(f"unexpected ')' at {token[2]}", token[2])
    return rule


def message_subject(event: WebSocketMessage) -> m.Subject:
    """A recorded message as a rule sees it (its kept payload; `size` is the whole one's)."""
    if event.text is not None:
        return m.for_message(event.sender, True, event.text.encode("utf-8", "replace"), event.size)
    return m.for_message(event.sender, False, event.data or b"", event.size)


def _tokens(text: str) -> list[Token]:
    """The exchange filter's tokens (one tokenizer for both languages), as tuples."""
    return [(t.kind, t.value, t.position) for t in tokens(text)]


class _Parser:
    """Recursive descent: `|` binds loosest, then `&` (or two terms side by side), then `!`."""

    def __init__(self, text: str, kind: Kind) -> None:
        self.tokens = _tokens(text)
        self.kind = kind
        self.index = 0
        self.depth = 0
        self.terms = _TERMS[kind]

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += token[0] != "end"
        return token

    def expression(self) -> m.Rule:
        items = [self.conjunction()]
        while self.peek()[0] == "|":
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else m.Or(items)

    def conjunction(self) -> m.Rule:
        items = [self.negation()]
        while self.peek()[0] not in ("|", ")", "end"):
            if self.peek()[0] == "&":
                self.take()
            items.append(self.negation())
        return items[0] if len(items) == 1 else m.And(items)

    def negation(self) -> m.Rule:
        count = 0
        while self.peek()[0] == "!":
            self.take()
            count += 1
        rule = self.atom()
        return m.Not(rule) if count % 2 else rule

    def atom(self) -> m.Rule:
        kind, value, position = self.take()
        if kind == "(":
            if self.depth == _MAX_DEPTH:
                raise FilterError(f"nested too deeply at {position}", position)
            self.depth += 1
            rule = self.expression()
            self.depth -= 1
            if self.take()[0] != ")":
                raise FilterError(f"unclosed parenthesis at {position}", position)
            return rule
        if kind == "filter":
            return self.term(value, position)
        if kind == "word":
            bare = "~b" if self.kind == "messages" else "~u"
            return self.terms[bare][0](bare, value, position)
        if kind == "end":
            previous = self.tokens[self.index - 1][1] if self.index else ""
            where = f" after '{previous}'" if previous else ""
            raise FilterError(f"expected a filter{where} at {position}", position)
        if kind == ")":
            raise FilterError(f"unexpected ')' at {position}", position)
        raise FilterError(f"'{kind}' at {position} needs a filter on its left", position)

    def term(self, name: str, position: int) -> m.Rule:
        flag = _FLAGS[self.kind].get(name)
        if flag is not None:
            return flag
        if name not in self.terms:
            known = ", ".join(sorted([*_FLAGS[self.kind], *self.terms]))
            raise FilterError(f"unknown filter {name} for {self.kind} (known: {known})", position)
        build, wanted = self.terms[name]
        kind, value, where = self.peek()
        if name == "~size" and kind == "word" and value in ("<", "<=", ">", ">=", "="):
            self.take()  # "~size > 1k": the operator apart from the number
            following = self.peek()
            if following[0] == "word":
                self.take()
                return build(name, value + following[1], where)
        if kind != "word":
            got = f"'{value}'" if value else "the end"
            raise FilterError(f"{name} needs {wanted}, got {got}", where)
        self.take()
        return build(name, value, where)


# -- the terms -----------------------------------------------------------------------------------


def _check(name: str, pattern: str, position: int, flags: int = 0) -> None:
    try:
        with warnings.catch_warnings(action="ignore"):
            re.compile(pattern, re.IGNORECASE | flags)
    except re.error as exc:
        raise FilterError(f"invalid regex {pattern!r} for {name}: {exc.msg}", position) from None
    except (OverflowError, RecursionError) as exc:
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise FilterError(f"invalid regex {pattern!r} for {name}: {message}", position) from None


_PARTS: dict[str, m.Part] = {"q": "request", "s": "response", "": "any"}


def _body(name: str, pattern: str, position: int) -> m.Rule:
    _check(name, pattern, position)
    return m.Body(pattern, _PARTS[name[2:]])


def _header(name: str, pattern: str, position: int) -> m.Rule:
    _check(name, pattern, position, re.MULTILINE)
    return m.Header(pattern, _PARTS[name[2:]])


def _type(name: str, pattern: str, position: int) -> m.Rule:
    _check(name, pattern, position)
    return m.ContentType(pattern, _PARTS[name[2:]])


def _url(name: str, pattern: str, position: int) -> m.Rule:
    _check(name, pattern, position)
    return m.Url(pattern)


def _method(name: str, method: str, position: int) -> m.Rule:
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", method):  # RFC 9110 5.6.2 token
        raise FilterError(f"{name} needs a method like GET, got {method!r}", position)
    return m.Method(method.upper())


def _status(name: str, argument: str, position: int) -> m.Rule:
    if re.fullmatch(r"[1-5]\d\d", argument):
        return m.Status(int(argument), int(argument) + 1)
    if re.fullmatch(r"[1-5]xx", argument, re.IGNORECASE):
        low = int(argument[0]) * 100
        return m.Status(low, low + 100)
    raise FilterError(f"{name} needs a status like 404 or 4xx, got {argument!r}", position)


def _size(name: str, argument: str, position: int) -> m.Rule:
    match = _SIZE.fullmatch(argument)
    if match is None:
        raise FilterError(f"{name} needs a size like >1k or <=100, got {argument!r}", position)
    op, digits, unit = match.groups()
    size = int(digits) * {"": 1, "k": 1024, "m": 1 << 20}[unit.lower()]
    if size >= 2**63:
        raise FilterError(f"{name} needs a size under 2**63 bytes, got {argument!r}", position)
    return m.Size(op or "=", size)  # type: ignore[arg-type]  # one of the five, by _SIZE


def _sender(name: str, argument: str, position: int) -> m.Rule:
    sender = argument.lower()
    if sender == "client":
        return m.FromSide("client")
    if sender == "server":
        return m.FromSide("server")
    raise FilterError(f"{name} needs client or server, got {argument!r}", position)


Build = Callable[[str, str, int], m.Rule]
_REQUESTS: dict[str, tuple[Build, str]] = {
    "~m": (_method, "a method like GET"),
    "~u": (_url, "a regex to search URLs for"),
    "~h": (_header, "a regex to search headers for"),
    "~hq": (_header, "a regex to search request headers for"),
    "~b": (_body, "a regex to search bodies for"),
    "~bq": (_body, "a regex to search the request body for"),
    "~t": (_type, "a regex to search content types for"),
    "~tq": (_type, "a regex to search the request's content type for"),
    "~size": (_size, "a size like >1k or <=100"),
}
_TERMS: dict[Kind, dict[str, tuple[Build, str]]] = {
    "messages": {
        "~from": (_sender, "client or server"),
        "~size": (_size, "a size like >1k or <=100"),
        "~b": (_body, "a regex to search payloads for"),
        "~bq": (_body, "a regex to search the client's payloads for"),
        "~bs": (_body, "a regex to search the server's payloads for"),
    },
    "requests": _REQUESTS,
    "responses": {
        **_REQUESTS,
        "~c": (_status, "a status like 404 or 4xx"),
        "~hs": (_header, "a regex to search response headers for"),
        "~bs": (_body, "a regex to search the response body for"),
        "~ts": (_type, "a regex to search the response's content type for"),
    },
}
_FLAGS: dict[Kind, dict[str, m.Rule]] = {
    "messages": {"~text": m.Kind(True), "~binary": m.Kind(False)},
    "requests": {},
    "responses": {},
}
