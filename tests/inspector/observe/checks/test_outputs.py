"""Where findings show outside the viewer: the `~check` filter and HAR's `_inspector`."""

from __future__ import annotations

import pytest

from inspector.observe.exchange import Exchange, fold
from inspector.observe.export import har
from inspector.observe.filters import FilterError, compile_filter
from tests.inspector.observe.checks.script import Script


def exchange(script: Script) -> Exchange:
    return fold(script.events)["x-1"]


BODY_ON_204 = exchange(Script().request().start(204, ()).body(b"x").finish())
UPPER_CASE = exchange(Script().request().respond(200, b"hi", ((b"Content-Type", b"a/b"),)))
CORRECT = exchange(Script().request().respond().finish())


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("~check", [BODY_ON_204, UPPER_CASE]),
        ("!~check", [CORRECT]),
        ("~check asgi", [UPPER_CASE]),
        ("~check http", [BODY_ON_204]),
        ("~check http.body-on-204", [BODY_ON_204]),
        ("~check HTTP.BODY", [BODY_ON_204]),
        ("~check ws", []),
        ("~check & /", [BODY_ON_204, UPPER_CASE]),  # an operator: no name, then a URL regex
        ("(~check)", [BODY_ON_204, UPPER_CASE]),
    ],
)
def test_check_filter(text: str, kept: list[Exchange]) -> None:
    assert compile_filter(text).select([BODY_ON_204, UPPER_CASE, CORRECT]) == kept


def test_check_filter_names_an_unknown_rule_with_its_position() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter("~m GET ~check nonsense")
    assert caught.value.position == 14
    assert "no rule is named 'nonsense'" in caught.value.message


def test_check_filter_prints_back() -> None:
    assert str(compile_filter("~check  ASGI & ~check")) == "~check asgi & ~check"


def test_har_carries_the_findings_under_inspector() -> None:
    entries = har([BODY_ON_204, CORRECT])["log"]["entries"]
    assert entries[0]["_inspector"]["checks"] == [
        {
            "rule": "http.body-on-204",
            "detail": "1 body bytes on a 204",
            "reference": "RFC 9110 §15.3.5",
        }
    ]
    assert "checks" not in entries[1]["_inspector"]
