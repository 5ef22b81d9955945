"""Fixtures shared by the engine's tests: users by role, a project, real images and meshes."""

import io

import numpy as np
import pytest


@pytest.fixture(scope="session")
def astronaut_png():
    """A real photograph (scikit-image's astronaut) as PNG bytes."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def source_meshes():
    """A few distinct real meshes (box, sphere, cylinder, cone, capsule...) as trimesh objects in the unit cube."""
    import trimesh

    return [
        trimesh.creation.box((1, 0.6, 0.4)),
        trimesh.creation.icosphere(subdivisions=3),
        trimesh.creation.cylinder(radius=0.4, height=1.0),
        trimesh.creation.cone(radius=0.5, height=1.0),
        trimesh.creation.capsule(height=0.8, radius=0.3),
        trimesh.creation.annulus(r_min=0.2, r_max=0.5, height=0.3),
        trimesh.creation.box((0.3, 1.0, 0.3)),
        trimesh.creation.icosphere(subdivisions=1),
    ]


@pytest.fixture(scope="session")
def glb_meshes(source_meshes):
    """Binary glTF (as the engine stores candidates) of ``source_meshes``, in the same order."""
    from model_suite.meshio import to_glb

    return [to_glb(np.asarray(m.vertices), np.asarray(m.faces)) for m in source_meshes]
