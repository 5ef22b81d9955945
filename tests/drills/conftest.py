"""Fixtures of the fault drills: the shape library and fast suite the engine tests use, and π_0 for the RQ drills."""

from tests.engine.conftest import annotator, artist, engineer, image, obj, project  # noqa: F401
from tests.engine.flywheel.conftest import base_checkpoint  # noqa: F401
from tests.engine.simulation.conftest import fast_suite, shape_library  # noqa: F401
