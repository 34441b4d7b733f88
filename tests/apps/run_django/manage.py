"""`python tests/apps/run_django/manage.py runserver` (with the repository on PYTHONPATH)."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.apps.run_django.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
