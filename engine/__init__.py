"""The data engine: the Django project and the domain apps of every stage."""

from engine.celery import app as celery_app

__all__ = ["celery_app"]
