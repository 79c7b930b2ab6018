"""Celery entry point: ``celery -A workers.celery_app worker -Q evaluate,publish,maintenance``.

``celery -A`` looks for an attribute named ``app`` first, so ``app`` is the Celery app here.
"""

from openspc import create_app, freeze_startup_objects

flask_app = create_app()
app = celery = flask_app.extensions["celery"]
freeze_startup_objects()
