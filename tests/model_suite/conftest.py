"""Shared fixtures for model_suite tests: small meshes built here or shipped with pyvista."""

from pathlib import Path

import numpy as np
import pytest
import trimesh

PYVISTA_EXAMPLES = Path(__import__("pyvista").__file__).parent / "examples"


@pytest.fixture
def box_mesh():
    """Return (V, F) of a watertight 1 x 0.5 x 0.25 box."""
    m = trimesh.creation.box(extents=(1.0, 0.5, 0.25))
    return np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.int32)


@pytest.fixture
def dense_sphere():
    """Return (V, F) of an icosphere with 81,920 triangles."""
    m = trimesh.creation.icosphere(subdivisions=6)
    return np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.int32)


@pytest.fixture
def pyvista_ply():
    """Return the directory of the real meshes that ship with pyvista."""
    return PYVISTA_EXAMPLES


@pytest.fixture(scope="session")
def small_library(tmp_path_factory):
    """Return a library dir with 26 procedural shapes (two per category) and the four pyvista meshes."""
    from model_suite.library import import_directory
    from model_suite.procedural import generate_shapes

    root = tmp_path_factory.mktemp("library")
    generate_shapes(root / "gen", count=26, seed=11)
    import_directory(root / "gen", root / "lib")
    import_directory(PYVISTA_EXAMPLES, root / "lib", recursive=False)
    return root / "lib"


@pytest.fixture
def camera():
    """Return pinhole intrinsics of a 160 x 120 image."""
    return dict(fx=150.0, fy=150.0, cx=80.0, cy=60.0, width=160, height=120)
