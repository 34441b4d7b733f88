"""Bodies for reading: decoded (gzip, deflate, br), sniffed and rendered by type.

JSON is pretty-printed, forms become a table, HTML/XML/JavaScript/CSS get syntax colours,
text stays text, images show their type, size and dimensions (read from the PNG, GIF or JPEG
header only) and anything else is a hex dump. Display never changes what was captured: a
failed decode says so and shows the raw bytes. Output is capped so a big body stays cheap.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import struct
import zlib
from urllib.parse import parse_qsl

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from inspector.events import Headers
from inspector.exchange import Body
from tui.console import size

SHOW_BYTES = 256 * 1024
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


def decode(data: bytes, encoding: str) -> tuple[bytes, str]:
    """Undo `Content-Encoding` for display; returns the bytes and a note for the reader."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    for coding in reversed(codings):  # RFC 9110 8.4: listed in the order they were applied
        try:
            if coding in ("gzip", "x-gzip"):
                data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
            elif coding == "deflate":
                try:
                    data = zlib.decompressobj().decompress(data)
                except zlib.error:  # some servers send raw deflate without the zlib wrapper
                    data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data)
            elif coding == "br":
                try:
                    import brotli  # type: ignore[import-not-found, unused-ignore]
                except ImportError:
                    return data, "br-encoded: install `brotli` to decode it; raw bytes below"
                data = brotli.decompress(data)
            elif coding != "identity":
                return data, f"unknown encoding {coding!r}; raw bytes below"
        except (zlib.error, gzip.BadGzipFile, EOFError, ValueError, OSError) as exc:
            return data, f"could not decode {coding}: {exc}; raw bytes below"
    return data, f"decoded from {encoding}" if codings else ""


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
    return Group(Text(" · ".join(facts), style="dim"), _render(kind, content_type, data))


def _render(kind: str, content_type: str, data: bytes) -> RenderableType:
    shown = data[:SHOW_BYTES]
    text = shown.decode(_charset(content_type), errors="replace")
    if kind == "image":
        name, dimensions = image_info(data)
        facts = [name or content_type or "image", size(len(data))]
        if dimensions is not None:
            facts.append(f"{dimensions[0]}x{dimensions[1]} px")
        return Text(" · ".join(facts), style="bold")
    if kind == "binary":
        return hex_dump(data)
    if kind == "json":
        with contextlib.suppress(ValueError):  # cut by the capture limit: colour what there is
            text = json.dumps(json.loads(data), indent=2, ensure_ascii=False)[:SHOW_BYTES]
        return highlight(text, "json")
    if kind == "form":
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, value in parse_qsl(text, keep_blank_values=True):
            table.add_row(key, value)
        return table
    if kind in _SYNTAX.values():
        return highlight(text, kind)
    return Text(text)


def highlight(text: str, lexer: str) -> Text:
    """Syntax colours without a background, so the code sits on the pane's own colour."""
    highlighted = Syntax(text, lexer, theme=_THEME).highlight(text)
    highlighted.style = ""
    highlighted.rstrip()
    return highlighted


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                "".encode(value.strip('"'))
            except LookupError:
                break
            return value.strip('"')
    return "utf-8"
