"""Bodies for display, without the app: decoding, sniffing, images, hex dumps."""

from __future__ import annotations

import gzip
import io
import struct
import sys
import types
import zlib

import pytest
from rich.console import Console, RenderableType

from inspector.observe.exchange import Body
from tui.scenarios import png
from tui.widgets.body import decode, hex_dump, image_info, kind_of, render_body


def plain(renderable: RenderableType) -> str:
    console = Console(width=100, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def body(data: bytes, size: int | None = None) -> Body:
    return Body(bytearray(data), len(data) if size is None else size, True)


def test_decode_gzip_deflate_raw_deflate_and_stacked_codings() -> None:
    data = b'{"a": 1}'
    assert decode(gzip.compress(data), "gzip") == (data, "decoded from gzip")
    assert decode(zlib.compress(data), "deflate")[0] == data
    raw = zlib.compressobj(wbits=-15)
    assert decode(raw.compress(data) + raw.flush(), "deflate")[0] == data
    assert decode(zlib.compress(gzip.compress(data)), "gzip, deflate")[0] == data


def test_decode_failures_keep_the_raw_bytes_and_say_why() -> None:
    assert decode(b"not gzip", "gzip") == (b"not gzip", decode(b"not gzip", "gzip")[1])
    assert "could not decode gzip" in decode(b"not gzip", "gzip")[1]
    assert "unknown encoding 'zstd'" in decode(b"x", "zstd")[1]
    data, note = decode(b"\x1b\x00", "br")
    assert data == b"\x1b\x00"
    assert "brotli" in note


def test_a_gzip_body_cut_by_the_capture_limit_still_shows_its_start() -> None:
    numbers = b", ".join(str(n * 7919 % 10007).encode() for n in range(5000))
    whole = gzip.compress(b'{"rows": [' + numbers + b"]}")
    shown, _ = decode(whole[: len(whole) // 2], "gzip")
    assert shown.startswith(b'{"rows": [0, 7919, ')


def test_image_dimensions_from_png_gif_and_jpeg_headers() -> None:
    assert image_info(png(64, 48)) == ("PNG", (64, 48))
    assert image_info(b"GIF89a" + struct.pack("<HH", 10, 20) + b"\x00" * 8) == ("GIF", (10, 20))
    jpeg = (
        b"\xff\xd8" + b"\xff\xe0\x00\x04ab" + b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", 30, 40)
    )
    assert image_info(jpeg + b"\x00" * 8) == ("JPEG", (40, 30))
    assert image_info(b"plain text") == ("", None)


def test_kind_from_content_type_else_sniffed() -> None:
    assert kind_of("application/json; charset=utf-8", b"{}") == "json"
    assert kind_of("application/x-www-form-urlencoded", b"a=1") == "form"
    assert kind_of("application/rss+xml", b"<rss/>") == "xml"
    assert kind_of("", b'  {"sniffed": true}') == "json"
    assert kind_of("", b"<!DOCTYPE html><html></html>") == "html"
    assert kind_of("", b"hello \xc3\xa9") == "text"
    assert kind_of("", bytes(range(256))) == "binary"
    assert kind_of("application/octet-stream", png(1, 1)) == "image"


def test_render_body_shows_facts_and_content() -> None:
    shown = plain(
        render_body(((b"content-type", b"application/json"),), body(b'{"a": [1]}'), complete=True)
    )
    assert "json · 10 B" in shown
    assert '"a": [\n' in shown
    cut = plain(render_body((), body(b"abc", size=10_000), complete=False))
    assert "captured 3 B" in cut
    assert "still arriving" in cut
    assert "no body yet" in plain(render_body((), Body(), complete=False))
    image = plain(render_body(((b"content-type", b"image/png"),), body(png(3, 2)), complete=True))
    assert "PNG · 1.0 KiB · 3x2 px" in image


def test_hex_dump_rows_and_limit() -> None:
    dump = hex_dump(bytes(range(40)), limit=32).plain
    assert dump.splitlines()[0].startswith("00000000  00 01 02 03 04 05 06 07")
    assert "00000010  10 11" in dump
    assert "… 8 more bytes" in dump


def test_decompression_stops_at_the_limit_and_says_so() -> None:
    bomb = gzip.compress(b"\0" * 100_000)
    data, note = decode(bomb, "gzip", limit=1000)
    assert data == b"\0" * 1000
    assert "cut at 1000 B" in note
    assert decode(zlib.compress(b"\0" * 100_000), "deflate", limit=10)[0] == b"\0" * 10
    exact, note = decode(gzip.compress(b"x" * 10), "gzip", limit=10)
    assert (exact, note) == (b"x" * 10, "decoded from gzip"), "all of it fits: nothing cut"
    shown = plain(render_body(((b"content-encoding", b"gzip"),), body(bomb), complete=True))
    assert "decoded from gzip" in shown


def test_a_gzip_bomb_is_shown_cut_at_four_mib() -> None:
    bomb = gzip.compress(b"\0" * (5 << 20))
    data, note = decode(bomb, "gzip")
    assert len(data) == 4 << 20
    assert "cut at 4.0 MiB" in note


def test_gzip_members_one_after_another_all_decode() -> None:
    assert decode(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip")[0] == b"abcd"
    assert decode(gzip.compress(b"ab") + b"trailing junk", "gzip")[0] == b"ab"


class _BrotliError(Exception):
    pass


class _Decompressor:
    """Stands in for `brotli.Decompressor` (1.2): echoes its input, fails on b"bad"."""

    def __init__(self) -> None:
        self.finished = False

    def process(self, data: bytes, output_buffer_limit: int = 0) -> bytes:
        if data.startswith(b"bad"):
            raise _BrotliError("BROTLI_DECODER_RESULT_ERROR")
        self.finished = not output_buffer_limit or len(data) <= output_buffer_limit
        return data[:output_buffer_limit] if output_buffer_limit else data

    def is_finished(self) -> bool:
        return self.finished


def test_br_with_brotli_installed_decodes_and_its_errors_are_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    brotli = types.ModuleType("brotli")
    brotli.Decompressor = _Decompressor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "brotli", brotli)
    assert decode(b"hello", "br") == (b"hello", "decoded from br")
    data, note = decode(b"bad input", "br")
    assert data == b"bad input"
    assert "could not decode br: BROTLI_DECODER_RESULT_ERROR" in note
    data, note = decode(b"x" * 100, "br", limit=10)
    assert data == b"x" * 10
    assert "cut at 10 B" in note
    shown = plain(render_body(((b"content-encoding", b"br"),), body(b"bad"), complete=True))
    assert "could not decode br" in shown


def test_a_non_text_or_odd_charset_falls_back_to_utf8() -> None:
    for charset in ("idna", "rot13", "hex", "undefined", "nonsense"):
        headers = ((b"content-type", f"text/plain; charset={charset}".encode()),)
        shown = plain(render_body(headers, body(b"caf\xc3\xa9 \xff"), complete=True))
        assert "café �" in shown, charset
    latin = ((b"content-type", b'text/plain; charset="latin-1"'),)
    assert "caf\xe9" in plain(render_body(latin, body(b"caf\xe9"), complete=True))


def test_markup_and_control_characters_in_bodies_are_shown_literally() -> None:
    form = ((b"content-type", b"application/x-www-form-urlencoded"),)
    shown = plain(render_body(form, body(b"a=[/x]&b=%1B[2J"), complete=True))
    assert "[/x]" in shown
    assert "\\x1b[2J" in shown
    for content_type in (b"text/plain", b"application/json", b"text/html", b""):
        data = b'{"a": "\x1b[2J \xc2\x9b1m [/x]\r\nline"}'
        headers = ((b"content-type", content_type),)
        shown = plain(render_body(headers, body(data), complete=True))
        assert "\x1b" not in shown, content_type
        assert "\x9b" not in shown, content_type
        assert "\\x1b[2J" in shown or "\\u001b[2J" in shown, content_type
        assert "[/x]" in shown, content_type
