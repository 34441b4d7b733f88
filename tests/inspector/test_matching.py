"""Intercept rules in the core: what each term matches, and the wire form the relay decodes."""

from __future__ import annotations

from inspector import matching as m


def _request(
    body: bytes = b"", fields: bytes = b"Host: a.test\r\nContent-Type: text/plain\r\n"
) -> m.Subject:
    return m.for_request(b"POST", b"/api/items?x=1", b"a.test", fields, body)


def test_message_terms() -> None:
    hello = m.for_message("client", True, b"hello world", 11)
    blob = m.for_message("server", False, b"\x00\x01", 2)
    assert m.matches(m.FromSide("client"), hello)
    assert not m.matches(m.FromSide("client"), blob)
    assert m.matches(m.Kind(True), hello)
    assert m.matches(m.Kind(False), blob)
    assert m.matches(m.Size(">", 10), hello)
    assert not m.matches(m.Size(">", 10), blob)
    assert m.matches(m.Size("=", 2), blob)
    assert m.matches(m.Size("<=", 2), blob)
    assert m.matches(m.Body("WORLD"), hello)
    assert m.matches(m.Body("world", "request"), hello)
    assert not m.matches(m.Body("world", "response"), hello)
    assert m.matches(m.Body(r"\x01"), blob)


def test_combinators() -> None:
    hello = m.for_message("client", True, b"hello", 5)
    assert m.matches(m.And([m.Kind(True), m.FromSide("client")]), hello)
    assert not m.matches(m.And([m.Kind(True), m.FromSide("server")]), hello)
    assert m.matches(m.Or([m.Kind(False), m.FromSide("client")]), hello)
    assert m.matches(m.Not(m.Kind(False)), hello)
    assert m.matches(m.Anything(), hello)


def test_request_and_response_terms() -> None:
    request = _request(b'{"id": 7}')
    assert m.matches(m.Method("POST"), request)
    assert not m.matches(m.Method("GET"), request)
    assert m.matches(m.Url("/api/items"), request)
    assert m.matches(m.Url("http://a.test/"), request)
    assert m.matches(m.Header("^content-type: text"), request)
    assert m.matches(m.ContentType("plain"), request)
    assert m.matches(m.Body('"id"'), request)
    assert not m.matches(m.Status(200, 300), request)  # a request has no status
    assert not m.matches(m.Kind(True), request)  # message terms never match HTTP
    response = m.for_response(request, 404, b"Content-Type: application/json\r\n", b"nope")
    assert m.matches(m.Status(400, 500), response)
    assert m.matches(m.Status(404, 405), response)
    assert m.matches(m.Body("nope", "response"), response)
    assert not m.matches(m.Body("nope", "request"), response)
    assert m.matches(m.Body("id", "request"), response)
    assert m.matches(m.ContentType("json", "response"), response)
    assert not m.matches(m.ContentType("json", "request"), response)
    assert m.matches(m.Header("text/plain", "request"), response)
    assert not m.matches(m.Header("text/plain", "response"), response)


def test_rules_travel_as_msgpack() -> None:
    rule: m.Rule = m.And([m.Not(m.FromSide("server")), m.Or([m.Size(">=", 1024), m.Body("x")])])
    assert m.decode_rule(m.encode_rule(rule)) == rule


def test_a_bad_regex_matches_nothing_instead_of_raising() -> None:
    assert not m.matches(m.Body("("), m.for_message("client", True, b"(", 1))
