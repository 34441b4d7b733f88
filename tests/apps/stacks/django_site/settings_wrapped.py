"""The same settings, naming the wrapped WSGI app (what `manage.py runserver` serves)."""

from __future__ import annotations

from tests.apps.stacks.django_site.settings import *  # noqa: F403

WSGI_APPLICATION = "tests.apps.stacks.django_site.wsgi.wrapped"
