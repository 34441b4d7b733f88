"""Flask: bare `app`, and `wrapped`, whose `wsgi_app` is wrapped as Flask's docs wrap one.

`flask run` serves only a `Flask` object, so the wrapped app is one too.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response, request

from inspector import WSGIInspectorMiddleware
from tests.apps.stacks import HEADERS, PARTS


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/hello")
    def hello() -> Response:
        return Response(b"hello " + request.headers.get("X-Dup", "").encode(), headers=HEADERS)

    @app.post("/echo")
    def echo() -> Response:
        return Response(request.get_data(), content_type="application/octet-stream")

    @app.get("/stream")
    def stream() -> Response:
        def parts() -> Iterator[bytes]:
            yield from PARTS

        return Response(parts(), content_type="text/plain")

    return app


app = create_app()
wrapped = create_app()
wrapped.wsgi_app = WSGIInspectorMiddleware(wrapped.wsgi_app)  # type: ignore[method-assign]
