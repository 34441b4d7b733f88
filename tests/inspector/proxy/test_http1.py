"""The HTTP/1.1 observer with no I/O: framing, split reads, and what it refuses."""

from __future__ import annotations

import pytest

from inspector.proxy.http1 import (
    CHUNKED,
    INTERIM,
    LENGTH,
    NO_BODY,
    STOP,
    UNTIL_CLOSE,
    MessageReader,
    ProtocolError,
    content_length,
)


class Recorder:
    """A sink that notes everything and frames bodies by a fixed plan per message."""

    def __init__(self, plan: list[tuple[int, int]]) -> None:
        self.plan = plan
        self.seen: list[tuple[str, bytes]] = []

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        self.seen.append(("head", data[start:end]))
        return self.plan.pop(0)

    def body(self, data: bytes, start: int, end: int, last: bool) -> None:
        if end > start or last:
            self.seen.append(("last" if last else "body", data[start:end]))

    def trailers(self, block: bytes) -> None:
        self.seen.append(("trailers", block))

    def end(self) -> None:
        self.seen.append(("end", b""))


def merged(seen: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Adjacent body pieces as one, so splitting reads does not change the comparison."""
    out: list[tuple[str, bytes]] = []
    for kind, data in seen:
        if out and out[-1][0] == "body" and kind in ("body", "last"):
            out[-1] = (kind, out[-1][1] + data)
        else:
            out.append((kind, data))
    return out


STREAM = (
    b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    b"\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n"
    b"GET /c HTTP/1.1\r\n\r\n"
)
PLAN = [(LENGTH, 5), (CHUNKED, 0), (NO_BODY, 0)]
EXPECTED = [
    ("head", b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n"),
    ("last", b"hello"),
    ("end", b""),
    ("head", b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"),
    ("body", b"abc"),
    ("body", b"de"),
    ("last", b""),
    ("trailers", b"X-T: 1\r\n"),
    ("end", b""),
    ("head", b"GET /c HTTP/1.1\r\n"),
    ("last", b""),
    ("end", b""),
]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, len(STREAM)])
def test_split_reads_see_the_same_messages(step: int) -> None:
    sink = Recorder(list(PLAN))
    reader = MessageReader(sink)
    forwarded = b""
    for at in range(0, len(STREAM), step):
        forwarded += reader.feed(STREAM[at : at + step])
    assert reader.error is None
    assert reader.idle
    assert forwarded == STREAM  # every byte forwarded, once, in order
    assert merged(sink.seen) == merged(EXPECTED)


def test_whole_reads_are_forwarded_as_the_same_object() -> None:
    reader = MessageReader(Recorder(list(PLAN)))
    assert reader.feed(STREAM) is STREAM


def test_incomplete_head_is_held_back() -> None:
    reader = MessageReader(Recorder([(NO_BODY, 0)]))
    assert reader.feed(b"GET / HTTP/1.1\r\nHo") == b""
    assert reader.feed(b"st: a\r\n\r\n") == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def test_interim_until_close_and_stop() -> None:
    sink = Recorder([(INTERIM, 0), (UNTIL_CLOSE, 0)])
    reader = MessageReader(sink)
    reader.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nabc")
    assert reader.eof()
    assert merged(sink.seen)[-3:] == [
        ("head", b"HTTP/1.1 200 OK\r\n"),
        ("last", b"abc"),
        ("end", b""),
    ]
    stopper = MessageReader(Recorder([(STOP, 0)]))
    assert stopper.feed(b"HTTP/1.1 101 X\r\n\r\n\x81\x00") == b"HTTP/1.1 101 X\r\n\r\n"
    assert stopper.stopped
    assert stopper.rest == b"\x81\x00"


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (b"GET / HTTP/1.1\nHost: a\n\n", "bare LF in the header section"),
        (b"POST / HTTP/1.1\r\n\r\nzz\r\n", "bad chunk size line"),
        (b"POST / HTTP/1.1\r\n\r\n1\r\nab\r\n", "chunk data not followed by CRLF"),
        (b"POST / HTTP/1.1\r\n\r\n0\r\nbad trailer\r\n\r\n", "malformed trailer field"),
    ],
)
def test_errors(stream: bytes, message: str) -> None:
    reader = MessageReader(Recorder([(CHUNKED, 0)]))
    reader.feed(stream)
    assert reader.error is not None
    assert str(reader.error) == message


def test_eof_inside_a_message_is_reported() -> None:
    reader = MessageReader(Recorder([(LENGTH, 10)]))
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert reader.eof() is False


def test_content_length() -> None:
    assert content_length([b"5"]) == 5
    assert content_length([b"5, 5", b"5"]) == 5  # RFC 9110 §8.6: identical values are one
    for bad in ([b"5", b"6"], [b"-1"], [b"0x10"], [b""], [b"1" * 19]):
        with pytest.raises(ProtocolError):
            content_length(bad)


class StrictRecorder(Recorder):
    """Refuses a space before a colon in a head, as the proxy's sinks do."""

    def head(self, data: bytes, start: int, end: int) -> tuple[int, int]:
        if b" :" in data[start:end]:
            raise ProtocolError("malformed header field")
        return super().head(data, start, end)


@pytest.mark.parametrize(
    ("stream", "bad"),
    [
        (b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost : x\r\n\r\n", b"GET /b"),
        (b"POST /a HTTP/1.1\r\n\r\n5\r\nhello\r\nZZ\r\n", b"ZZ"),  # a bad chunk size
        (b"POST /a HTTP/1.1\r\n\r\n5\r\nhelloXX", b"XX"),  # chunk data without its CRLF
    ],
)
def test_an_error_forwards_up_to_the_last_valid_byte(stream: bytes, bad: bytes) -> None:
    # A bad head is never forwarded; a body that breaks is, up to where it broke.
    plan = [(NO_BODY, 0)] if stream.startswith(b"GET") else [(CHUNKED, 0)]
    reader = MessageReader(StrictRecorder(plan))
    valid = stream.index(bad)
    assert reader.feed(stream) == stream[:valid]
    assert reader.error is not None
    assert reader.rest == stream[valid:]
    assert not reader.inside


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_a_head_fed_in_small_pieces_is_scanned_in_linear_work(step: int) -> None:
    # 60 KB of field lines: re-scanning what is held on each read would cost ~1.8 GB of work
    # for one byte at a time (and 4 s of CPU); searching only what each read added costs
    # about the head's size, plus the three bytes before each LF.
    head = b"GET / HTTP/1.1\r\n"
    head += b"".join(b"X-Filler-%05d: %s\r\n" % (n, b"a" * 80) for n in range(600)) + b"\r\n"
    sink = Recorder([(NO_BODY, 0)])
    reader = MessageReader(sink)
    forwarded = b"".join(reader.feed(head[at : at + step]) for at in range(0, len(head), step))
    assert forwarded == head
    assert sink.seen[0] == ("head", head[:-2])
    assert reader.scanned <= 2 * len(head)


def test_a_head_growing_past_the_limit_one_byte_at_a_time_is_refused() -> None:
    reader = MessageReader(Recorder([]))
    line = b"X: " + b"a" * 95 + b"\r\n"
    data = b"GET / HTTP/1.1\r\n" + line * 700
    for at in range(len(data)):
        assert reader.feed(data[at : at + 1]) == b""
        if reader.error is not None:
            break
    assert reader.error is not None
    assert str(reader.error) == "header section too large"
    assert at + 1 == 64 * 1024 + 1  # refused at the first byte past the limit


@pytest.mark.parametrize(
    "data", [b"GET / HTTP/1.1\nHost: a\n\n", b"GET / HTTP/1.1\r\nHost: a\n\r\n"]
)
def test_a_bare_lf_is_refused_however_the_head_is_split(data: bytes) -> None:
    for step in (1, 3, len(data)):
        reader = MessageReader(Recorder([]))
        for at in range(0, len(data), step):
            reader.feed(data[at : at + step])
        assert reader.error is not None
        assert str(reader.error) == "bare LF in the header section"
