"""The seam between engine and trainer: Stage 2 and 3 services -> export_iteration -> the trainer's loader.

The engine stores meshes as quantized GLB for the browser. These tests follow one ranked and
aligned object through the real export and the trainer's reader, and check the trainer sees each
mesh's true geometry (its occupancy equals the voxelised original), and that DPO on the export
gets a gradient (identical chosen and rejected occupancies would give exactly none).
"""

import json

import numpy as np
import open3d as o3d
import pytest
import trimesh
from django.core.management import call_command

from engine.alignment import services as alignment
from engine.candidates.models import Candidate
from engine.leases import services as leases
from engine.leases.models import Stage
from engine.ranking.services import compare, rate, session_for
from engine.records.models import PreferencePair
from model_suite.meshio import load_mesh
from trainer.data.export import load_export
from trainer.data.pack import unpack_occ
from trainer.data.render import voxelize

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def unit_meshes(source_meshes):
    """The source meshes centred and scaled into the unit cube, as the engine keeps every mesh."""
    out = []
    for m in source_meshes:
        m = m.copy()
        m.apply_translation(-m.bounds.mean(axis=0))
        m.apply_scale(0.98 / m.extents.max())
        out.append(m)
    return out


@pytest.fixture(scope="module")
def unit_glbs(unit_meshes):
    from model_suite.meshio import to_glb

    return [to_glb(np.asarray(m.vertices), np.asarray(m.faces)) for m in unit_meshes]


@pytest.fixture
def candidate_set(obj, unit_glbs):
    """Four candidates of distinct shapes (box, sphere, cylinder, cone), none filling the cube."""
    from tests.engine.conftest import ready_set

    return ready_set(obj, unit_glbs, 4)


@pytest.fixture
def exported(tmp_path, project, annotator, annotator2, candidate_set):
    """One object ranked (three comparisons, rated 0.8) and aligned, exported by the management command."""
    task = leases.claim(annotator, project.pk, Stage.RANK)
    session_for(task, annotator)
    for position, answer in enumerate(["left", "right", "left"]):
        compare(task.pk, annotator, position, answer)
    rate(task.pk, annotator, 0.8)
    task = leases.claim(annotator2, project.pk, Stage.ALIGN)
    alignment.submit(task.pk, annotator2, {"quaternion": [1, 0, 0, 0]}, [0, 0, 2], 1.0, 5.0)
    out = tmp_path / "export"
    call_command("export_iteration", "--iteration", "1", "--out", str(out), verbosity=0)
    return out


def originals(source_meshes, glb_meshes):
    """Map an exported mesh path to (the mesh the engine stored, decoded by its own reader; the source mesh)."""
    by_stem = {}
    for c in Candidate.objects.all():
        with c.mesh.open("rb") as f:
            data = f.read()
        by_stem[c.mesh.name.replace("/", "_").rsplit(".", 1)[0]] = (
            trimesh.Trimesh(*load_mesh(data), process=False), source_meshes[glb_meshes.index(data)])
    return lambda path: by_stem[path.rsplit("/", 1)[-1].rsplit(".", 1)[0]]


def assert_voxelises_as(occ, mesh_pair, grid):
    """Exactly the stored mesh's occupancy; the source mesh's up to its int16 quantization (one boundary voxel)."""
    stored, source = mesh_pair
    np.testing.assert_array_equal(occ, voxelize(stored, grid))
    truth = voxelize(source, grid)
    assert (occ & truth).sum() / (occ | truth).sum() > 0.99


def rows(folder, name):
    return [json.loads(line) for line in (folder / f"{name}.jsonl").read_text().splitlines()]


def test_exported_meshes_load_with_their_true_geometry_in_trimesh_and_open3d(exported, candidate_set):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["format"]["version"] == 2 and manifest["format"]["mesh"]["file"] == "ply"
    paths = {r["mesh"]["path"] for r in rows(exported, "samples")}
    paths |= {r[side]["mesh"]["path"] for r in rows(exported, "pairs") for side in ("chosen", "rejected")}
    stored = {c.mesh.name.replace("/", "_").rsplit(".", 1)[0]: c for c in candidate_set.candidates.all()}
    assert len(paths) == candidate_set.candidates.count()
    for path in paths:
        with stored[path.rsplit("/", 1)[-1][:-4]].mesh.open("rb") as f:
            v, faces = load_mesh(f.read())  # the engine's own reading of its quantized GLB
        plain = trimesh.load(exported / path, process=False)
        np.testing.assert_array_equal(np.asarray(plain.vertices, np.float32), v)
        np.testing.assert_array_equal(plain.faces, faces)
        o3d_mesh = o3d.io.read_triangle_mesh(str(exported / path))
        np.testing.assert_array_equal(np.asarray(o3d_mesh.vertices, np.float32), v)
        assert np.abs(v).max() <= 1.0  # unit-cube coordinates, not the GLB's raw int16 (about 13,000)


@pytest.mark.parametrize("grid", [16, 32])
def test_each_rows_occupancy_is_the_voxelised_original_mesh(exported, unit_meshes, unit_glbs, grid):
    original = originals(unit_meshes, unit_glbs)
    samples = load_export(exported, grid, 32, "samples", progress=False)
    # Stage 1's category rides along to the trainer (what --category-loss reads), row for row
    assert samples.row_categories == [row["category"] for row in rows(exported, "samples")]
    assert all(samples.row_categories)
    for row, packed in zip(rows(exported, "samples"), samples.arrays["occ"], strict=True):
        occ = unpack_occ(packed[None], grid)[0]
        assert_voxelises_as(occ, original(row["mesh"]["path"]), grid)
        assert 0 < occ.mean() < 1  # neither empty nor the full grid a misread GLB gives
    pair_rows = [r for r in rows(exported, "pairs") if r["dpo_eligible"]]
    assert pair_rows, "the tournament should leave at least one model candidate rejected"
    pairs = load_export(exported, grid, 32, "pairs", progress=False)
    for row, chosen, rejected in zip(pair_rows, pairs.arrays["occ"], pairs.arrays["occ_rejected"], strict=True):
        chosen, rejected = unpack_occ(np.stack([chosen, rejected]), grid)
        assert_voxelises_as(chosen, original(row["chosen"]["mesh"]["path"]), grid)
        assert_voxelises_as(rejected, original(row["rejected"]["mesh"]["path"]), grid)
        assert (chosen != rejected).any()


def test_the_trainer_refuses_a_quantized_glb_instead_of_misreading_it(exported, glb_meshes):
    row = rows(exported, "samples")[0]
    (exported / row["mesh"]["path"]).write_bytes(glb_meshes[0])  # a version-1 export held the engine's GLB
    with pytest.raises(ValueError, match="KHR_mesh_quantization.*re-export"):
        load_export(exported, 16, 32, "samples", progress=False)


def dpo_grad_norm(export, tmp_path, name):
    """SFT the tiny preset a few steps on the export, then DPO from it; return DPO's first logged grad norm."""
    from trainer import dpo, sft
    from trainer.config import DPOConfig, TrainConfig

    common = dict(config="tiny", data=[str(export)], batch_size=2, log_every=1, ckpt_every=2, progress=False,
                  threads=1, seed=0)
    sft.train(TrainConfig(stage="sft", out=str(tmp_path / f"{name}-sft"), steps=2, vae_steps=4, vae_batch_size=2,
                          warmup=1, **common))
    dpo.train(DPOConfig(out=str(tmp_path / f"{name}-dpo"), init=str(tmp_path / f"{name}-sft"), steps=2, warmup=1,
                        **common))
    log = [json.loads(line) for line in (tmp_path / f"{name}-dpo" / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 1
    return log[0]["grad_norm"], log[0]


def test_sft_then_dpo_on_the_export_get_a_dpo_gradient(exported, tmp_path):
    grad, logs = dpo_grad_norm(exported, tmp_path, "real")
    assert grad > 0 and np.isfinite(grad)
    assert logs["loss"] == pytest.approx(np.log(2), abs=1e-3)  # the policy starts at its reference
    # The control: rejected meshes replaced by the chosen ones (what a full-grid misread gave) get none.
    same = tmp_path / "same"
    import shutil

    shutil.copytree(exported, same)
    lines = rows(same, "pairs")
    for r in lines:
        r["rejected"]["mesh"] = r["chosen"]["mesh"]
    (same / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    control, _ = dpo_grad_norm(same, tmp_path, "same")
    assert control < 1e-3 * grad, (control, grad)  # float rounding of two identical rows, no signal
    assert PreferencePair.objects.count() == len(lines)
