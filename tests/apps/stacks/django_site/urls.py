"""The URLs: no trailing slashes, as the other frameworks' apps have them."""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

from django.urls import path

from tests.apps.stacks.django_site import views

urlpatterns = [
    path("hello", views.hello),
    path("echo", views.echo),
    path("stream", views.stream),
]
