"""The record format: stand-ins for what msgpack cannot carry, the bounded buffer, batches."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from inspector import records as rec


def taken(buffer: rec.RecordBuffer) -> list[rec.Record]:
    return [rec.decode_record(data) for data in buffer.take(1 << 30)]


def recorded(*fields: Any) -> tuple[list[rec.Record], rec.RecordBuffer]:
    buffer = rec.RecordBuffer()
    buffer.record(*fields)
    return taken(buffer), buffer


class NoRepr:
    """An app object whose repr must never run on the hot path."""

    called = False

    def __repr__(self) -> str:
        NoRepr.called = True
        raise RuntimeError("repr was called")

    __str__ = __repr__


class Name(str):
    pass


def cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"n": 1}
    value["self"] = value
    return value


# -- one record -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ((rec.CLIENT_GONE, "x-1", 5), rec.ClientGone("x-1", 5)),
        (
            (rec.FINISHED, "x-1", 5, "completed", 7, "/items/{id}", ""),
            rec.Finished("x-1", 5, "completed", 7, "/items/{id}", ""),
        ),
        ((rec.BODY_READ, "x-1", 5, b"ab", 9, True), rec.BodyRead("x-1", 5, b"ab", 9, True)),
        (
            (rec.ASGI_SCOPE, "x-1", 5, {"type": "http"}, [b"cookie"]),
            rec.AsgiScope("x-1", 5, {"type": "http"}, [b"cookie"]),
        ),
        (
            (rec.ASGI_SENT, "x-1", 5, {"type": "http.response.body"}, 10, None),
            rec.AsgiSent("x-1", 5, {"type": "http.response.body"}, 10),
        ),
        ((rec.DROPPED, 3, 7, "sink"), rec.Dropped(3, 7, "sink")),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, rec.Record) else "",
)
def test_a_tuple_with_a_tag_encodes_exactly_as_its_struct(
    fields: tuple[Any, ...], expected: rec.Record
) -> None:
    assert rec.encode(fields) == msgspec.msgpack.encode(expected)
    assert recorded(*fields)[0] == [expected]


def test_trailing_fields_with_defaults_may_be_left_out() -> None:
    """Capture passes `size` and `redact` only when it has them to say."""
    fields = (rec.ASGI_SENT, "x-1", 5, {"type": "http.response.start", "status": 200})
    assert recorded(*fields)[0] == [rec.AsgiSent("x-1", 5, fields[3], -1, None)]


def test_a_field_left_out_at_the_end_takes_its_default() -> None:
    records, _ = recorded(rec.ASGI_SCOPE, "x-1", 5, {"type": "http"})
    assert records == [rec.AsgiScope("x-1", 5, {"type": "http"}, None)]
    records, _ = recorded(rec.ASGI_SENT, "x-1", 5, {"type": "http.response.body"})
    assert records == [rec.AsgiSent("x-1", 5, {"type": "http.response.body"}, -1)]


def test_every_record_kind_has_its_own_tag_and_name() -> None:
    kinds = rec.AnyRecord.__args__  # type: ignore[attr-defined]
    # Distinct tags; 25 and 26 belong to the holds' records (issue #13), merged apart.
    assert len(rec.TAG_NAMES) == len(kinds)
    assert sorted(rec.TAG_NAMES) == list(range(1, len(kinds) + 1))
    assert set(rec.TAG_NAMES.values()) == {kind.__name__ for kind in kinds}
    assert rec.TAG_NAMES[rec.ASGI_SCOPE] == "AsgiScope"


@pytest.mark.parametrize(
    "data",
    [
        msgspec.msgpack.encode((99, "x-1", 5)),  # an unknown tag
        msgspec.msgpack.encode((rec.CLIENT_GONE, "x-1")),  # a field missing
        msgspec.msgpack.encode((rec.CLIENT_GONE, "x-1", "soon")),  # a field of the wrong type
        msgspec.msgpack.encode({"record": 14}),
    ],
)
def test_what_is_not_a_record_does_not_decode(data: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        rec.decode_record(data)


# -- stand-ins --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "failures"),
    [
        (object(), "<object>", 0),
        (NoRepr(), "<NoRepr>", 0),
        (Name("host"), "host", 0),  # a subclass of a basic type goes as that type
        ({"a": NoRepr()}, {"a": "<NoRepr>"}, 0),
        ({7}, [7], 0),  # msgpack carries a set as an array
        (b"\xff\x00", b"\xff\x00", 0),
        (bytearray(b"ab"), b"ab", 0),
        (("a", 1), ["a", 1], 0),
        (cyclic(), "<dict>", 1),
        (2**64, "<int>", 1),  # past what msgpack can hold
        (-(2**63) - 1, "<int>", 1),
    ],
    ids=[
        "object",
        "no-repr",
        "str-subclass",
        "nested",
        "set",
        "bytes",
        "bytearray",
        "tuple",
        "cyclic",
        "big-int",
        "small-int",
    ],
)
def test_values_msgpack_cannot_carry_become_stand_ins(
    value: Any, expected: Any, failures: int
) -> None:
    scope = {"type": "http", "value": value, "path": "/"}
    records, buffer = recorded(rec.ASGI_SCOPE, "x-1", 5, scope)
    assert records[-1] == rec.AsgiScope("x-1", 5, {"type": "http", "value": expected, "path": "/"})
    assert buffer.failures == failures
    if failures:  # the stand-in is told about, on the exchange it belongs to
        failure = records[0]
        assert isinstance(failure, rec.CaptureFailed)
        assert (failure.xid, failure.where) == ("x-1", "AsgiScope")
        assert "could not be encoded" in failure.error
        assert buffer.last_error is not None
        assert buffer.last_error.startswith("AsgiScope: ")
    else:
        assert len(records) == 1
    assert not NoRepr.called


def test_keys_become_text_without_running_the_apps_code() -> None:
    scope = {"type": "http", 1: "one", NoRepr(): "object", "loop": cyclic()}
    records, _ = recorded(rec.ASGI_SCOPE, "x-1", 5, scope)
    assert records[-1] == rec.AsgiScope(
        "x-1", 5, {"type": "http", "1": "one", "<NoRepr>": "object", "loop": "<dict>"}
    )
    assert not NoRepr.called


def test_a_stand_in_keeps_the_other_fields_of_the_record() -> None:
    records, buffer = recorded(rec.WSGI_STARTED, "x-1", 5, "200 OK", [("a", cyclic())])
    assert records[-1] == rec.WsgiStarted("x-1", 5, "200 OK", "<list>")
    assert buffer.failures == 1


class Boom(Exception):
    pass


class HostileLength:
    def __len__(self) -> int:
        raise Boom("len")

    def __repr__(self) -> str:
        raise Boom("repr")


class HostileList(list[int]):
    def __iter__(self) -> Any:
        raise Boom("iter")

    def __len__(self) -> int:
        raise Boom("len")


class HostileDict(dict[str, Any]):
    def items(self) -> Any:
        raise Boom("items")

    def keys(self) -> Any:
        raise Boom("keys")

    def __iter__(self) -> Any:
        raise Boom("iter")


class HostileKey:
    def __hash__(self) -> int:
        return 1

    def __str__(self) -> str:
        raise Boom("str")

    __repr__ = __str__


class HostileClass:
    @property  # type: ignore[misc]
    def __class__(self) -> Any:  # isinstance() reads it
        raise Boom("__class__")


class HostileStr(str):
    def __str__(self) -> str:
        raise Boom("str")


@pytest.mark.parametrize(
    "fields",
    [
        (rec.ASGI_SCOPE, "x-1", 5, {"value": HostileLength()}),
        (rec.ASGI_SCOPE, "x-1", 5, {"value": HostileList([1, 2])}),
        (rec.ASGI_SCOPE, "x-1", 5, {"value": HostileStr("text")}),
        (rec.ASGI_SCOPE, "x-1", 5, {"value": HostileClass()}),
        (rec.ASGI_SCOPE, "x-1", 5, {"value": HostileDict(a=1)}),
        (rec.ASGI_SCOPE, "x-1", 5, HostileDict(a=cyclic())),  # after a first failure, too
        (rec.ASGI_SCOPE, "x-1", 5, {HostileKey(): 1}),
        (rec.ASGI_SCOPE, "x-1", 5, {HostileKey(): 1, "loop": cyclic()}),
        (rec.WSGI_STARTED, "x-1", 5, HostileClass(), []),
        (rec.WSGI_STARTED, "x-1", 5, 2**70, HostileList([1])),
    ],
    ids=[
        "len",
        "iter",
        "str",
        "class",
        "items",
        "items-after-failure",
        "key",
        "key-after-failure",
        "class-field",
        "iter-field",
    ],
)
def test_record_never_raises(fields: tuple[Any, ...]) -> None:
    buffer = rec.RecordBuffer()
    buffer.record(*fields)
    records = taken(buffer)
    # Something arrives for the exchange, and what it could not carry is named, never shown.
    assert records
    assert all(getattr(record, "xid", None) == "x-1" for record in records)
    assert isinstance(records[-1], rec.AsgiScope | rec.WsgiStarted)
    assert "Boom" not in msgspec.json.encode(records).decode()


def test_a_record_over_the_limit_becomes_a_capture_failed_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rec, "MAX_RECORD", 100)
    buffer = rec.RecordBuffer()
    buffer.record(rec.BODY_SENT, "x-1", 5, b"x" * 50, 50, True)
    buffer.record(rec.BODY_SENT, "x-1", 6, b"x" * 500, 500, True)
    small, big = taken(buffer)
    assert small == rec.BodySent("x-1", 5, b"x" * 50, 50, True)
    assert isinstance(big, rec.CaptureFailed)
    assert (big.xid, big.where) == ("x-1", "BodySent")
    assert "over the 100 limit" in big.error
    assert (buffer.failures, buffer.dropped) == (1, 0)


def test_failed_records_what_went_wrong_in_capture() -> None:
    buffer = rec.RecordBuffer()
    buffer.failed("x-1", "send", KeyError("status"))
    (record,) = taken(buffer)
    assert isinstance(record, rec.CaptureFailed)
    assert (record.xid, record.where, record.error) == ("x-1", "send", "send: KeyError('status')")
    assert (buffer.failures, buffer.last_error) == (1, "send: KeyError('status')")


# -- the buffer -------------------------------------------------------------------------------


def gone(n: int) -> tuple[Any, ...]:
    return (rec.CLIENT_GONE, "x-1", n)


def test_past_its_capacity_the_buffer_drops_the_oldest_and_counts_them() -> None:
    buffer = rec.RecordBuffer(capacity=3)
    for n in range(10):
        buffer.record(*gone(n))
    assert (len(buffer), buffer.dropped) == (3, 7)
    assert [r.at for r in taken(buffer)] == [7, 8, 9]  # type: ignore[attr-defined]
    for n in range(10, 15):
        buffer.record(*gone(n))
    assert buffer.dropped == 9
    assert [r.at for r in taken(buffer)] == [12, 13, 14]  # type: ignore[attr-defined]


def test_past_its_bytes_the_buffer_drops_the_oldest_and_counts_them() -> None:
    size = len(rec.encode((rec.BODY_SENT, "x-1", 0, b"x" * 100, 100, True)))
    buffer = rec.RecordBuffer(max_bytes=3 * size)
    for n in range(10):
        buffer.record(rec.BODY_SENT, "x-1", n, b"x" * 100, 100, True)
    assert (len(buffer), buffer.bytes, buffer.dropped) == (3, 3 * size, 7)
    assert [r.at for r in taken(buffer)] == [7, 8, 9]  # type: ignore[attr-defined]
    assert buffer.bytes == 0


def test_a_record_bigger_than_the_buffer_is_dropped_and_counted() -> None:
    buffer = rec.RecordBuffer(max_bytes=50)
    buffer.record(rec.BODY_SENT, "x-1", 1, b"x" * 100, 100, True)
    assert (len(buffer), buffer.bytes, buffer.dropped) == (0, 0, 1)


def test_the_byte_count_includes_every_record_the_buffer_holds() -> None:
    buffer = rec.RecordBuffer()
    buffer.record(*gone(1))
    buffer.record(rec.ASGI_SCOPE, "x-1", 2, {"loop": cyclic()})  # adds a CaptureFailed too
    buffer.failed("x-1", "send", KeyError("status"))
    assert len(buffer) == 4
    held = buffer.bytes
    assert sum(map(len, buffer.take(1 << 30))) == held


def test_take_hands_over_the_oldest_up_to_a_size_and_at_least_one() -> None:
    buffer = rec.RecordBuffer()
    for n in range(5):
        buffer.record(*gone(n))
    size = len(rec.encode(gone(0)))
    assert len(buffer.take(1)) == 1
    assert len(buffer.take(2 * size)) == 2
    assert buffer.bytes == 2 * size
    assert [r.at for r in taken(buffer)] == [3, 4]  # type: ignore[attr-defined]
    assert buffer.take() == []
    assert buffer.taken == 5


def test_reset_empties_the_buffer_and_its_counts() -> None:
    buffer = rec.RecordBuffer(capacity=1)
    buffer.record(*gone(1))
    buffer.record(*gone(2))
    buffer.failed("x-1", "send", ValueError())
    buffer.reset()
    assert (len(buffer), buffer.bytes, buffer.dropped, buffer.failures) == (0, 0, 0, 0)
    assert buffer.last_error is None


@pytest.mark.parametrize(("capacity", "max_bytes"), [(0, 100), (10, 0), (-1, -1)])
def test_a_buffer_holds_at_least_one_record_and_one_byte(capacity: int, max_bytes: int) -> None:
    with pytest.raises(ValueError, match="at least one record and one byte"):
        rec.RecordBuffer(capacity, max_bytes)


# -- batches ----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65535, 65536])
def test_a_batch_is_an_array_header_and_its_records(count: int) -> None:
    header = rec.array_header(count)
    assert msgspec.msgpack.encode([None] * count).startswith(header)
    raws = rec.split_batch(header + b"\xc0" * count)  # msgpack nil, `count` times
    assert len(raws) == count
    records = [rec.encode(gone(n)) for n in range(min(count, 20))]
    batch = rec.decode_batch(rec.array_header(len(records)) + b"".join(records))
    assert batch == [rec.ClientGone("x-1", n) for n in range(len(records))]
