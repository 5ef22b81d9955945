import json
import shutil

import numpy as np
import trimesh

from model_suite.library import Library, caption_from_name, import_directory, load_index
from model_suite.procedural import generate_shapes


def test_import_accepts_good_meshes_and_records_why_others_are_rejected(tmp_path, pyvista_ply):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(pyvista_ply / "nut.ply", src / "hex_nut.ply")
    trimesh.creation.box((2, 1, 1)).export(src / "crate.obj")
    trimesh.creation.box((1, 1, 0.01)).export(src / "paper.stl")
    (src / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\nnan 1 0\n3 0 1 2\n")
    (src / "notes.txt").write_text("not a mesh")
    results = {r.file.split("/")[-1]: r for r in import_directory(src, tmp_path / "lib", category="hardware")}
    assert set(results) == {"hex_nut.ply", "crate.obj", "paper.stl", "broken.off"}
    assert results["hex_nut.ply"].accepted and results["crate.obj"].accepted
    assert results["paper.stl"].reason == "flat_sheet"
    assert not results["broken.off"].accepted and results["broken.off"].reason in ("non_finite", "unreadable", "empty", "degenerate")
    index = load_index(tmp_path / "lib")
    assert [e.caption for e in index] == ["a crate hardware", "a hex nut hardware"]
    rejected = [json.loads(x) for x in (tmp_path / "lib" / "rejected.jsonl").read_text().splitlines()]
    assert {r["reason"] for r in rejected} >= {"flat_sheet"}


def test_stored_meshes_are_normalized_and_reimport_is_idempotent(tmp_path, pyvista_ply):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(pyvista_ply / "airplane.ply", src / "airplane.ply")
    import_directory(src, tmp_path / "lib")
    again = import_directory(src, tmp_path / "lib")
    assert again[0].reason == "duplicate"
    lib = Library(tmp_path / "lib")
    assert len(lib) == 1
    v, f = lib.mesh(lib.entries[0].id)
    assert np.isclose((v.max(axis=0) - v.min(axis=0)).max(), 1.0, atol=1e-4)
    assert np.allclose((v.max(axis=0) + v.min(axis=0)) / 2, 0, atol=1e-4)


def test_procedural_captions_and_categories_are_picked_up(tmp_path):
    generate_shapes(tmp_path / "gen", count=5, seed=0)
    import_directory(tmp_path / "gen", tmp_path / "lib")
    entries = load_index(tmp_path / "lib")
    assert [e.category for e in entries] == ["bench", "chair", "shelf", "stool", "table"]  # sorted by file name
    assert all(e.watertight and e.params and e.caption.startswith("a ") for e in entries)


def test_caption_from_name():
    from pathlib import Path

    assert caption_from_name(Path("office_chair-02.ply")) == "an office chair"
    assert caption_from_name(Path("0001.obj"), "mug") == "a mug"


def test_a_long_lived_library_sees_shapes_imported_later(tmp_path):
    lib = Library(tmp_path / "lib")
    assert len(lib) == 0 and not lib.refresh()
    generate_shapes(tmp_path / "gen", count=2, seed=0)
    import_directory(tmp_path / "gen", tmp_path / "lib")
    assert lib.refresh() and len(lib) == 2
