"""Fixtures of the fault drills: the shape library and fast suite the engine tests use."""

from tests.engine.conftest import annotator, artist, engineer, image, obj, project  # noqa: F401
from tests.engine.simulation.conftest import fast_suite, shape_library  # noqa: F401
