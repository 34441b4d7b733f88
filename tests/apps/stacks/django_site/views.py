"""The views: the same under WSGI and ASGI, streaming with the iterator each one wants."""

# mypy: allow-untyped-decorators, disable-error-code="import-untyped"

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tests.apps.stacks import PARTS


@require_GET
def hello(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(b"hello " + request.headers.get("X-Dup", "").encode())
    response.headers["X-Mixed-Case"] = "kept"
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


@csrf_exempt
@require_POST
def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.body, content_type="application/octet-stream")


def _parts() -> Iterator[bytes]:
    yield from PARTS


async def _async_parts() -> AsyncIterator[bytes]:
    for part in PARTS:
        yield part


@require_GET
def stream(request: HttpRequest) -> StreamingHttpResponse:
    # Django serves a sync iterator under ASGI (and an async one under WSGI) only with a warning.
    parts = _async_parts() if isinstance(request, ASGIRequest) else _parts()
    return StreamingHttpResponse(parts, content_type="text/plain")
