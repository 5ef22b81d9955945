"""Fixtures of the deployment tests: the engine's users, project and image."""

from tests.engine.conftest import annotator, engineer, image, project  # noqa: F401
