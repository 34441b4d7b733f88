"""Capture points inside the app's process: ASGI and WSGI middleware."""
