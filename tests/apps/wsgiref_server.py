"""Serve `module:app` with the standard library's wsgiref on 127.0.0.1 (for tests)."""

from __future__ import annotations

import importlib
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: object = "-", size: object = "-") -> None:
        pass


def main() -> None:
    target, port = sys.argv[1], int(sys.argv[2])
    module_name, _, attribute = target.partition(":")
    app = getattr(importlib.import_module(module_name), attribute)
    with make_server("127.0.0.1", port, app, handler_class=_QuietHandler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
