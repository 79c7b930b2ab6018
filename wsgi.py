"""WSGI entry point: ``gunicorn -k gthread --threads 32 wsgi:app``."""

from openspc import create_app

app = create_app()
