"""Fixtures of the simulation tests: a small shape library and a fast CPU suite over it."""

import pytest

from tests.engine.conftest import make_user  # noqa: F401  (shared with the engine's tests)


@pytest.fixture(scope="session")
def shape_library(tmp_path_factory):
    """A library of 12 procedural shapes (one per category of the first twelve)."""
    from model_suite import library, procedural

    root = tmp_path_factory.mktemp("sim-library")
    procedural.generate_shapes(root / "src", 12, seed=0)
    library.import_directory(root / "src", root / "lib")
    return root / "lib"


@pytest.fixture
def fast_suite(settings, shape_library):
    """Geometric lifting and silhouette retrieval over the small library, without pose refinement."""
    from engine.candidates import generation

    settings.SHAPE_LIBRARY_DIR = shape_library
    settings.MODEL_SUITE = {"refine_pose": False}
    generation._suite.cache_clear()
    yield settings
    generation._suite.cache_clear()


FAST_GENERATORS = ["geometric_lifting", "silhouette_retrieval"]
