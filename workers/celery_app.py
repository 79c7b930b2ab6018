"""Celery entry point: ``celery -A workers.celery_app worker -Q evaluate,publish,maintenance``."""

from openspc import create_app

app = create_app()
celery = app.extensions["celery"]
