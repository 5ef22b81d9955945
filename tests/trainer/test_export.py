"""The engine export contract: a small export folder built here, read through one dataset class."""
import json

import numpy as np
import pytest
import trimesh
from PIL import Image

from trainer.data.export import load_export
from trainer.data.loader import data_vocabulary, open_dataset


def mesh_ref(path, source="model"):
    return {"path": path, "source": source, "generator": "flow", "checkpoint": None}


@pytest.fixture
def export_dir(tmp_path):
    (tmp_path / "files" / "images").mkdir(parents=True)
    (tmp_path / "files" / "masks").mkdir(parents=True)
    (tmp_path / "files" / "meshes").mkdir(parents=True)
    Image.fromarray(np.full((30, 40, 3), 100, np.uint8)).save(tmp_path / "files/images/a.png")
    mask = np.zeros((30, 40), np.uint8)
    mask[5:25, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "files/masks/7.png")
    trimesh.creation.box([1, 1, 1]).export(tmp_path / "files/meshes/box.glb")
    trimesh.creation.icosphere(radius=0.5).export(tmp_path / "files/meshes/ball.ply")
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"project": "demo", "iteration": 1, "alpha": 0.5, "created_at": "2026-01-01T00:00:00Z",
         "counts": {"samples": 1, "pairs": 2}}))
    image, m = {"path": "files/images/a.png", "width": 40, "height": 30}, {"path": "files/masks/7.png"}
    sample = {"id": "sample-1", "iteration": 1, "alpha": 0.5, "object_id": 7, "image": image, "mask": m,
              "category": "box", "description": "a box", "mesh": mesh_ref("files/meshes/box.glb", "artist"),
              "pose": {"rotation_quaternion": [1, 0, 0, 0], "rotation_matrix": np.eye(3).tolist(),
                       "translation": [0.1, 0.2, 3.0], "scale": 0.8}, "rating": 0.9}
    (tmp_path / "samples.jsonl").write_text(json.dumps(sample) + "\n")
    pair = lambda i, eligible: {"id": f"pair-{i}", "iteration": 1, "object_id": 7, "image": image, "mask": m,
                                "chosen": {"mesh": mesh_ref("files/meshes/box.glb")},
                                "rejected": {"mesh": mesh_ref("files/meshes/ball.ply", "model" if eligible else "retrieval")},
                                "rejected_is_model": eligible, "dpo_eligible": eligible}
    (tmp_path / "pairs.jsonl").write_text(json.dumps(pair(1, True)) + "\n" + json.dumps(pair(2, False)) + "\n")
    return tmp_path


def test_samples_carry_views_occupancy_and_pose(export_dir):
    ds = open_dataset(str(export_dir), 16, 32, progress=False)
    b = ds.batch([0])
    assert len(ds) == 1 and ds.snapshot == "export:demo:it1:samples"
    assert b["views"].shape == (1, 2, 4, 32, 32) and b["occ"].shape == (1, 16, 16, 16)
    assert b["occ"].mean() > 0.9                     # the unit box fills the grid
    assert b["translation"].tolist() == [[pytest.approx(0.1), pytest.approx(0.2), 3.0]]
    assert b["scale"].item() == pytest.approx(0.8) and b["layout_mask"].tolist() == [[1.0, 1.0, 1.0]]
    # Stage 1's category reaches the trainer (the category loss reads it), and names the export's vocabulary
    assert ds.row_categories == ["box"] and data_vocabulary([str(export_dir)]) == ["box"]


def test_pairs_skip_non_model_rejections(export_dir):
    ds = load_export(export_dir, 16, 32, kind="pairs", progress=False)
    assert len(ds) == 1
    b = ds.batch([0])
    assert b["occ"].sum() > b["occ_rejected"].sum() > 0     # box (chosen) vs ball (rejected)
    assert b["layout_mask"].sum() == 0


def test_missing_files_are_named(export_dir):
    (export_dir / "files/meshes/box.glb").unlink()
    with pytest.raises(FileNotFoundError, match="box.glb"):
        load_export(export_dir, 16, 32, progress=False)


def test_a_malformed_row_is_a_clear_error_naming_file_line_and_field(export_dir):
    row = json.loads((export_dir / "samples.jsonl").read_text())
    del row["pose"]["rotation_matrix"]
    (export_dir / "samples.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=r"samples\.jsonl line 1: malformed row .*rotation_matrix"):
        load_export(export_dir, 16, 32, progress=False)
