"""The `~` language for intercept and message filters: parsing into rules, and its errors."""

from __future__ import annotations

import pytest

from inspector import events as ev
from inspector import matching as m
from inspector.observe.filters import FilterError
from inspector.observe.rules import compile_rule, message_subject


def test_message_rules() -> None:
    assert compile_rule("", "messages") == m.Anything()
    assert compile_rule("~from client", "messages") == m.FromSide("client")
    assert compile_rule("~text & ~size >1k", "messages") == m.And([m.Kind(True), m.Size(">", 1024)])
    assert compile_rule("~binary | !~bs 'a b'", "messages") == m.Or(
        [m.Kind(False), m.Not(m.Body("a b", "response"))]
    )
    assert compile_rule("~size <= 100", "messages") == m.Size("<=", 100)
    assert compile_rule("~size 2m", "messages") == m.Size("=", 2 << 20)
    assert compile_rule("ping", "messages") == m.Body("ping")
    assert compile_rule("(~bq a ~bq b)", "messages") == m.And(
        [m.Body("a", "request"), m.Body("b", "request")]
    )


def test_request_and_response_rules() -> None:
    assert compile_rule("~m post ~u /api", "requests") == m.And([m.Method("POST"), m.Url("/api")])
    assert compile_rule("/login", "requests") == m.Url("/login")
    assert compile_rule("~c 5xx | ~hs x-debug", "responses") == m.Or(
        [m.Status(500, 600), m.Header("x-debug", "response")]
    )
    assert compile_rule("~ts json", "responses") == m.ContentType("json", "response")


@pytest.mark.parametrize(
    ("text", "kind", "message", "position"),
    [
        ("~c 200", "requests", "unknown filter ~c for requests", 0),
        ("~m GET", "messages", "unknown filter ~m for messages", 0),
        ("~from nobody", "messages", "~from needs client or server, got 'nobody'", 6),
        ("~size big", "messages", "~size needs a size like >1k or <=100, got 'big'", 6),
        ("~text &", "messages", "expected a filter after '&' at 7", 7),
        ("(~text", "messages", "unclosed parenthesis at 0", 0),
        ("~b 'a('", "messages", "invalid regex 'a(' for ~b", 3),
        ("~text )", "messages", "unexpected ')' at 6", 6),
        ("'open", "messages", "unclosed quote at 0", 0),
        ("~c 999", "responses", "~c needs a status like 404 or 4xx, got '999'", 3),
    ],
)
def test_mistakes_say_where(text: str, kind: str, message: str, position: int) -> None:
    with pytest.raises(FilterError) as caught:
        compile_rule(text, kind)  # type: ignore[arg-type]
    assert caught.value.message.startswith(message)
    assert caught.value.position == position


def test_message_subject_filters_recorded_messages() -> None:
    text = ev.WebSocketMessage("x", 0, "client", "héllo", None, 6)
    data = ev.WebSocketMessage("x", 0, "server", None, b"\x00abc", 4000)
    rule = compile_rule("~text ~from client ~b héllo", "messages")
    assert m.matches(rule, message_subject(text))
    assert not m.matches(rule, message_subject(data))
    big = compile_rule("~binary ~size >3k ~bs abc", "messages")
    assert m.matches(big, message_subject(data))
