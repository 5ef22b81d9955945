import pytest


@pytest.fixture(scope="session")
def shape_library(tmp_path_factory):
    """A small real shape library: procedural shapes of a few categories plus pyvista's meshes."""
    from pathlib import Path

    import pyvista

    from model_suite import library, procedural

    root = tmp_path_factory.mktemp("library")
    procedural.generate_shapes(root / "src", 12, seed=0)
    library.import_directory(root / "src", root / "lib")
    library.import_directory(Path(pyvista.__file__).parent / "examples", root / "lib", recursive=False)
    return root / "lib"


@pytest.fixture
def suite_settings(settings, shape_library):
    from engine.candidates import generation

    settings.SHAPE_LIBRARY_DIR = shape_library
    generation._suite.cache_clear()
    yield settings
    generation._suite.cache_clear()
