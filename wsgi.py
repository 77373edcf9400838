"""WSGI entry point: ``gunicorn wsgi:app``."""

from governance import create_app

app = create_app()
