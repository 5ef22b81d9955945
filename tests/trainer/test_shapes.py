import numpy as np
import pytest
import trimesh

from trainer.data.shapes import bundled_mesh_paths, load_mesh, mesh_paths, normalize, primitive_assembly, shape_library


def test_normalize_puts_the_mesh_in_the_unit_cube():
    m = normalize(trimesh.creation.box([2.0, 4.0, 1.0]).apply_translation([3, 3, 3]))
    assert np.allclose(m.bounds, [[-0.25, -0.5, -0.125], [0.25, 0.5, 0.125]])


@pytest.mark.parametrize("seed", range(7))
def test_assemblies_are_watertight_and_normalised(seed):
    m = primitive_assembly(seed)
    assert m.is_watertight
    assert np.isclose((m.bounds[1] - m.bounds[0]).max(), 1.0)


def test_bundled_real_meshes_load():
    paths = bundled_mesh_paths()
    assert {"airplane", "ant", "nut", "sphere"} <= {p.stem for p in paths}
    m = load_mesh(paths[0])
    assert np.isclose((m.bounds[1] - m.bounds[0]).max(), 1.0)


def test_folders_are_expanded_and_missing_ones_named(tmp_path):
    trimesh.creation.icosphere().export(tmp_path / "ball.obj")
    assert [p.name for p in mesh_paths([str(tmp_path)])] == ["ball.obj"]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        mesh_paths(["/nowhere"])
    assert [n for n, _ in shape_library([str(tmp_path)], 1)] == ["ball", "assembly-0"]
