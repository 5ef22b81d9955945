"""Upload validation with good, broken and hostile files."""

import struct

import numpy as np
import pytest
import trimesh

from engine.artists import uploads

LIMITS = {"max_bytes": 2_000_000, "max_triangles": 50_000}


def export(fmt):
    return trimesh.creation.icosphere(subdivisions=2).export(file_type=fmt)


@pytest.mark.parametrize("fmt", ["glb", "obj", "ply", "stl"])
def test_formats_are_sniffed_from_content_not_name(fmt):
    data = export(fmt)
    data = data.encode() if isinstance(data, str) else data
    checked = uploads.check(data, **LIMITS)
    assert checked.format == fmt and len(checked.faces) == 320


def test_ascii_stl_is_recognised():
    data = trimesh.creation.box().export(file_type="stl_ascii")
    data = data.encode() if isinstance(data, str) else data
    assert uploads.check(data, **LIMITS).format == "stl"


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "Unrecognised"),
    (b"<script>alert(1)</script>", "Unrecognised"),
    (b"glTF" + struct.pack("<II", 2, 12), "could not be read|no triangle"),
    (b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1\n", "could not be read|no triangle"),
    (b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no triangle|could not be read"),
    (b"v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "non-finite|could not be read"),
    (b"v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate"),
])
def test_broken_and_hostile_files_are_rejected_with_a_reason(data, reason):
    with pytest.raises(uploads.UploadRejected, match=reason):
        uploads.check(data, **LIMITS)


def test_size_and_triangle_limits():
    data = export("glb")
    with pytest.raises(uploads.UploadRejected, match="limit"):
        uploads.check(data, max_bytes=100, max_triangles=10_000)
    with pytest.raises(uploads.UploadRejected, match="320 triangles"):
        uploads.check(data, max_bytes=10**7, max_triangles=100)


def test_stored_name_has_no_path():
    assert uploads.safe_name("../../etc/passwd", "obj") == "passwd.obj"
    assert uploads.safe_name("C:\\x\\chair.final.glb", "glb") == "chair.final.glb"
    assert uploads.safe_name("....", "stl") == "mesh.stl"


def test_normalized_glb_is_in_unit_cube():
    mesh = trimesh.creation.box((4, 2, 1))
    glb = uploads.normalized_glb(np.asarray(mesh.vertices) + 10, np.asarray(mesh.faces))
    from model_suite.meshio import load_mesh

    vertices, _ = load_mesh(glb)
    assert np.allclose(vertices.max(axis=0) - vertices.min(axis=0), [1, 0.5, 0.25], atol=1e-3)
    assert np.allclose((vertices.max(axis=0) + vertices.min(axis=0)) / 2, 0, atol=1e-3)
