from __future__ import annotations

from tests.apps.run_django.settings import *  # noqa: F403

WSGI_APPLICATION = "tests.apps.run_django.wsgi_wrapped.application"
