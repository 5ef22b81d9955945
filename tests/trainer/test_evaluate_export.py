"""`trainer evaluate` on an engine export scores every mesh an export can hold, or names the row it cannot."""
import json

import numpy as np
import pytest
from PIL import Image

from model_suite.lifting import primitive
from model_suite.meshio import to_ply
from model_suite.meshproc import prepare_candidate
from trainer.checkpoints import load_checkpoint
from trainer.cli import main
from trainer.data.loader import open_dataset
from trainer.data.pack import pack_occ
from trainer.data.render import voxelize
from trainer.evaluate import evaluate_model, score_sample
from trainer.metrics.surface import occupancy_mesh


def lifted_box():
    """Geometric lifting's box for an object as deep as it is wide and tall, as the engine stores it (unit cube)."""
    box = primitive("box", np.array([-0.2, -0.2, 1.8]), np.array([0.2, 0.2, 2.2]))
    return prepare_candidate(box.vertices, box.faces)


@pytest.fixture
def lifted_export(tmp_path):
    """An export of two samples: a lifted box that fills the unit cube, and a smaller sphere."""
    import trimesh

    for sub in ("images", "masks", "meshes"):
        (tmp_path / "files" / sub).mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), np.uint8)).save(tmp_path / "files/images/a.png")
    mask = np.zeros((48, 48), np.uint8)
    mask[8:40, 8:40] = 255
    Image.fromarray(mask).save(tmp_path / "files/masks/1.png")
    (tmp_path / "files/meshes/lifted.ply").write_bytes(to_ply(*lifted_box()))
    ball = trimesh.creation.icosphere(radius=0.35)
    (tmp_path / "files/meshes/ball.ply").write_bytes(to_ply(ball.vertices, ball.faces))
    (tmp_path / "manifest.json").write_text(json.dumps({"project": "p", "iteration": 1, "format": {"version": 2}}))
    pose = {"rotation_quaternion": [1, 0, 0, 0], "rotation_matrix": np.eye(3).tolist(), "translation": [0, 0, 2.0],
            "scale": 0.4}
    rows = [{"id": f"sample-{i}", "image": {"path": "files/images/a.png"}, "mask": {"path": "files/masks/1.png"},
             "mesh": {"path": f"files/meshes/{name}.ply", "source": source}, "pose": pose}
            for i, (name, source) in enumerate([("lifted", "lifting"), ("ball", "model")], 1)]
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_a_mesh_that_fills_the_grid_has_a_surface_and_scores():
    v, f = lifted_box()
    import trimesh

    occ = voxelize(trimesh.Trimesh(v, f, process=False), 16)
    assert occ.all(), "the lifted box fills every voxel of the grid"
    surface = occupancy_mesh(occ)
    assert surface is not None and surface.is_watertight
    assert surface.bounds.tolist() == [[-0.5] * 3, [0.5] * 3]
    pose = (np.eye(3), np.array([0, 0, 2.0]), 0.4)
    row = score_sample(occ.astype(np.float32), occ, pose, pose, True, 500, 64, True)
    assert row["viou"] == pytest.approx(1.0) and row["empty"] == 0.0


@pytest.mark.slow
def test_evaluate_scores_an_export_with_a_lifted_mesh(tmp_path, lifted_export, tiny_ckpt, capsys):
    out = tmp_path / "report.json"
    code = main(["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(lifted_export), "--n", "2", "--points", "500",
                 "--emd-points", "64", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["n"] == 2 and report["data"] == "export:p:it1:samples"
    assert all(np.isfinite(v) for v in report["ckpt"]["metrics"].values())


@pytest.mark.slow
def test_a_row_that_cannot_be_scored_is_named_with_its_line(lifted_export, tiny_ckpt):
    model, _ = load_checkpoint(tiny_ckpt, device="cpu")
    data = open_dataset(str(lifted_export), model.cfg.grid, model.cfg.image_size, progress=False)
    data.arrays["occ"][1] = pack_occ(np.zeros((1,) + (model.cfg.grid,) * 3, bool))[0]  # no ground truth left
    with pytest.raises(ValueError, match=r"cannot score row 1 of export:p:it1:samples \(line 2 of samples\.jsonl\): "
                                         r"a ground-truth occupancy is empty"):
        evaluate_model(model, data, 2, points=500, emd_points=64, progress=False)
