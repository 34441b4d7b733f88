"""WSGI entry point: bare `app`, and `wrapped` as a project's wsgi.py wraps its application."""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from inspector import WSGIInspectorMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.apps.stacks.django_site.settings")

app = get_wsgi_application()
wrapped = WSGIInspectorMiddleware(get_wsgi_application())
