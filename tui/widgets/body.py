"""Bodies for reading: decoded (gzip, deflate, br), sniffed and rendered by type.

JSON is pretty-printed, forms become a table, HTML/XML/JavaScript/CSS get syntax colours,
text stays text, images show their type, size and dimensions (read from the PNG, GIF or JPEG
header only) and anything else is a hex dump. Display never changes what was captured: a
failed decode says so and shows the raw bytes. Output is capped so a big body stays cheap:
decompression stops at `DECODE_LIMIT` (a small gzip can inflate a thousandfold), text at
`SHOW_BYTES`.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import struct
import zlib
from collections.abc import Callable
from urllib.parse import parse_qsl

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from inspector.events import Headers
from inspector.observe.exchange import Body
from tui.console import size
from tui.widgets.cells import kv_table, printable

SHOW_BYTES = 256 * 1024
DECODE_LIMIT = 4 << 20
"""Decoded bytes kept for display; past it the output is cut and the note says so."""
HEX_BYTES = 4096
_THEME = "ansi_dark"
_SYNTAX = {
    "html": "html",
    "xml": "xml",
    "javascript": "javascript",
    "css": "css",
    "yaml": "yaml",
    "x-www-form-urlencoded": "form",
    "json": "json",
}


def header(headers: Headers, name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def decode(data: bytes, encoding: str, limit: int = DECODE_LIMIT) -> tuple[bytes, str]:
    """Undo `Content-Encoding` for display, keeping at most `limit` bytes; returns the bytes and
    a note for the reader. A body cut by the capture limit decodes as far as it goes."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    cut = False
    for coding in reversed(codings):  # RFC 9110 8.4: listed in the order they were applied
        if coding == "identity":
            continue
        decoder = _DECODERS.get(coding)
        if decoder is None:
            return data, f"unknown encoding {coding!r}; raw bytes below"
        try:
            data, cut_here = decoder(data, limit)
        except ImportError:
            return data, f"{coding}-encoded: install `brotli` to decode it; raw bytes below"
        except Exception as exc:  # zlib.error, brotli.error, ...: show the bytes, say why
            return data, f"could not decode {coding}: {exc}; raw bytes below"
        cut = cut or cut_here
    if not codings:
        return data, ""
    note = f"decoded from {encoding}"
    return data, note + f" (cut at {size(limit)})" if cut else note


def _inflate(data: bytes, wbits: int, limit: int) -> tuple[bytes, bool]:
    """zlib, gzip or raw deflate by `wbits`; True when more output than `limit` was left."""
    out = bytearray()
    while True:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(data, limit - len(out))
        # RFC 1952 2.2: a gzip file may be several members one after another.
        rest = inflater.unused_data if wbits > zlib.MAX_WBITS else b""
        if len(out) >= limit:
            return bytes(out), not inflater.eof or bool(rest)
        if not inflater.eof or not rest.startswith(b"\x1f\x8b"):
            return bytes(out), False
        data = rest


def _gunzip(data: bytes, limit: int) -> tuple[bytes, bool]:
    return _inflate(data, 16 + zlib.MAX_WBITS, limit)


def _deflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    try:
        return _inflate(data, zlib.MAX_WBITS, limit)
    except zlib.error:  # some servers send raw deflate without the zlib wrapper
        return _inflate(data, -zlib.MAX_WBITS, limit)


def _unbrotli(data: bytes, limit: int) -> tuple[bytes, bool]:
    import brotli  # type: ignore[import-not-found, unused-ignore]

    decompressor = brotli.Decompressor()
    try:  # brotli >= 1.2 stops growing its output at the limit
        out = decompressor.process(data, output_buffer_limit=limit)
    except TypeError:  # older: feed small slices and stop once past the limit
        out = b""
        for at in range(0, len(data), 1024):
            out += decompressor.process(data[at : at + 1024])
            if len(out) >= limit:
                break
    if len(out) >= limit:
        return bytes(out[:limit]), not decompressor.is_finished() or len(out) > limit
    return bytes(out), False


_DECODERS: dict[str, Callable[[bytes, int], tuple[bytes, bool]]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _deflate,
    "br": _unbrotli,
}


def image_info(data: bytes) -> tuple[str, tuple[int, int] | None]:
    """The image type and dimensions from its header, when they are cheap to read."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return "PNG", struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return "GIF", struct.unpack("<HH", data[6:10])
    if data.startswith(b"\xff\xd8"):
        return "JPEG", _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP", None
    return "", None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 9 < len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return width, height
        offset += 2 + length
    return None


def hex_dump(data: bytes, limit: int = HEX_BYTES) -> Text:
    text = Text(no_wrap=True)
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        text.append(f"{offset:08x}  ", "dim")
        text.append(f"{chunk.hex(' '):<48}  ")
        text.append(printable + "\n", "cyan")
    if len(data) > limit:
        text.append(f"… {len(data) - limit:,} more bytes", "dim")
    return text


def kind_of(content_type: str, data: bytes) -> str:
    """json, form, html, xml, ..., text, image or binary: from the type, else by sniffing."""
    mime = content_type.split(";")[0].strip().lower()
    if mime.startswith("image/") or image_info(data)[0]:
        return "image"
    for marker, kind in _SYNTAX.items():
        if marker in mime:
            return kind
    if mime.startswith("text/"):
        return "text"
    head = data[:64].lstrip()
    if head[:1] in (b"{", b"[") and _is_json(data):
        return "json"
    if head[:1] == b"<":
        return "html" if head[:14].lower().startswith((b"<!doctype html", b"<html")) else "xml"
    try:
        data[:SHOW_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < SHOW_BYTES - 4:  # a character cut at the capture limit is still text
            return "binary"
    return "text" if b"\x00" not in data[:1024] else "binary"


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def render_body(headers: Headers, body: Body, *, complete: bool) -> RenderableType:
    if body.size == 0:
        return Text("no body" if complete else "no body yet", style="dim italic")
    raw = bytes(body.data)
    data, note = decode(raw, header(headers, b"content-encoding"))
    content_type = header(headers, b"content-type")
    kind = kind_of(content_type, data)
    facts = [kind, size(body.size)]
    if body.truncated:
        facts.append(f"captured {size(len(raw))}")
    if not complete:
        facts.append("still arriving")
    if note:
        facts.append(note)
    line = Text(printable(" · ".join(facts)), style="dim")
    return Group(line, _render(kind, content_type, data))


def _render(kind: str, content_type: str, data: bytes) -> RenderableType:
    text = printable(_text(data[:SHOW_BYTES], content_type), multiline=True)
    if kind == "image":
        name, dimensions = image_info(data)
        facts = [name or content_type or "image", size(len(data))]
        if dimensions is not None:
            facts.append(f"{dimensions[0]}x{dimensions[1]} px")
        return Text(printable(" · ".join(facts)), style="bold")
    if kind == "binary":
        return hex_dump(data)
    if kind == "json":
        with contextlib.suppress(ValueError):  # cut by the capture limit: colour what there is
            pretty = json.dumps(json.loads(data), indent=2, ensure_ascii=False)[:SHOW_BYTES]
            text = printable(pretty, multiline=True)
        return highlight(text, "json")
    if kind == "form":
        return kv_table(parse_qsl(text, keep_blank_values=True))
    if kind in _SYNTAX.values():
        return highlight(text, kind)
    return Text(text)


def highlight(text: str, lexer: str) -> Text:
    """Syntax colours without a background, so the code sits on the pane's own colour."""
    highlighted = Syntax(text, lexer, theme=_THEME).highlight(text)
    highlighted.style = ""
    highlighted.rstrip()
    return highlighted


def _text(data: bytes, content_type: str) -> str:
    """The body as text in its declared charset, else UTF-8; bad bytes become U+FFFD."""
    try:
        return data.decode(_charset(content_type), errors="replace")
    except (UnicodeError, LookupError, ValueError):  # idna and friends refuse "replace"
        return data.decode("utf-8", errors="replace")


def _charset(content_type: str) -> str:
    """The declared charset if Python knows it as a text encoding (not `rot13`, `hex`, ...)."""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                codec = codecs.lookup(value.strip().strip('"'))
            except LookupError:
                break
            if getattr(codec, "_is_text_encoding", False):
                return codec.name
            break
    return "utf-8"
