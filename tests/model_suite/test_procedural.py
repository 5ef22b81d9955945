import json

import numpy as np
import pytest

from model_suite.procedural import CATEGORIES, generate_shapes, main, make_shape


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_gives_one_watertight_body_in_the_unit_cube(category):
    for index in range(3):
        mesh, params, caption = make_shape(category, seed=7, index=index)
        assert mesh.is_watertight and mesh.volume > 0
        assert len(mesh.split(only_watertight=False)) == 1
        extent = mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)
        assert np.isclose(extent.max(), 1.0, atol=1e-5)
        assert np.allclose(mesh.bounds.mean(axis=0), 0, atol=1e-5)
        assert caption.split()[0] in ("a", "an") and params


def test_shapes_are_seeded_and_distinct():
    a, pa, _ = make_shape("chair", seed=3, index=5)
    b, pb, _ = make_shape("chair", seed=3, index=5)
    c, pc, _ = make_shape("chair", seed=3, index=6)
    assert np.array_equal(a.vertices, b.vertices) and pa == pb
    assert pa != pc


def test_shapes_stand_up_along_y():
    mesh, params, _ = make_shape("lamp", seed=0, index=0)
    extent = mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)
    if params["height"] > 1.0:  # a floor lamp is much taller than wide
        assert extent[1] == extent.max()


def test_generate_shapes_writes_meshes_and_captions(tmp_path):
    records = generate_shapes(tmp_path, count=26, seed=1)
    assert len(records) == 26 and {r["category"] for r in records} == set(CATEGORIES)
    lines = [json.loads(x) for x in (tmp_path / "captions.jsonl").read_text().splitlines()]
    assert lines == records
    assert all((tmp_path / r["file"]).exists() and r["watertight"] for r in records)


def test_cli_prints_a_summary(tmp_path, capsys):
    main(["--out", str(tmp_path), "--count", "4", "--seed", "2", "--categories", "mug,bowl"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 4 and summary["watertight"] == 4
