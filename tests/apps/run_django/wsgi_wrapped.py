from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from inspector import WSGIInspectorMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.apps.run_django.settings_wrapped")
application = WSGIInspectorMiddleware(get_wsgi_application())
