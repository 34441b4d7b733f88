"""Settings of the matrix's Django project: Django's usual middleware, no database."""

from __future__ import annotations

SECRET_KEY = "only-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
ROOT_URLCONF = "tests.apps.stacks.django_site.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
DATABASES: dict[str, object] = {}
USE_TZ = True
WSGI_APPLICATION = "tests.apps.stacks.django_site.wsgi.app"
