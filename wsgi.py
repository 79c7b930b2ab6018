"""WSGI entry point: ``gunicorn -k gthread --threads 32 wsgi:app``."""

from openspc import create_app, freeze_startup_objects

app = create_app()
freeze_startup_objects()
