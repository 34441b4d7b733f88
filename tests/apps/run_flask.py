"""A Flask app for `flask run` under `inspector run`: the routes of `tests.apps.run_apps`;
`wrapped` captures in code, inside Flask (`app.wsgi_app = WSGIInspectorMiddleware(...)`)."""

from __future__ import annotations

from flask import Flask, Response, request

from inspector import WSGIInspectorMiddleware
from tests.apps.run_apps import answer


def make() -> Flask:
    app = Flask(__name__)

    @app.route("/<path:path>", methods=["GET", "POST"])
    def everything(path: str) -> Response:
        status, data = answer(request.method, f"/{path}", request.get_data())
        return Response(data, status=status, content_type="text/plain")

    return app


app = make()
wrapped = make()
wrapped.wsgi_app = WSGIInspectorMiddleware(wrapped.wsgi_app)  # type: ignore[method-assign]
