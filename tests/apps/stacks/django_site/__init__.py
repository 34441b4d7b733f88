"""A small Django 5 project: WSGI (`wsgi.py`) and ASGI with a Channels consumer (`asgi.py`)."""
