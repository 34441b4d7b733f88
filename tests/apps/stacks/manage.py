"""The matrix's Django project's manage.py, as `django-admin startproject` writes one."""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import os
import sys

from django.core.management import execute_from_command_line

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.apps.stacks.django_site.settings")
    execute_from_command_line(sys.argv)
