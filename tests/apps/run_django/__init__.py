"""A one-file Django project for `inspector run -- python manage.py runserver`: the routes of
`tests.apps.run_apps`. `settings_wrapped` points runserver at `wsgi_wrapped`, which captures
in code around `get_wsgi_application()` as the README shows."""
