"""Aggregate and filter: iterations 1..k in one export, winners with r ≥ α_k, a fixed held-out share of objects."""

import json

import pytest
from django.utils import timezone

from engine.alignment import services as alignment
from engine.flywheel.aggregate import export_aggregate, held_out
from engine.flywheel.export import ExportError
from engine.intake import masks
from engine.intake.models import ObjectInstance
from engine.leases import services as leases
from engine.leases.models import Stage
from engine.ranking.services import compare, rate, session_for
from tests.engine.conftest import box_mask, ready_set

pytestmark = pytest.mark.django_db


def collect(project, obj, annotator, aligner, rating, glb_meshes):
    """Rank a fresh set of the object in the open iteration, rate its winner and align it."""
    cset = ready_set(obj, glb_meshes, project.n_candidates)
    task = leases.claim(annotator, project.pk, Stage.RANK)
    session_for(task, annotator)
    for position in range(cset.candidates.count() - 1):
        compare(task.pk, annotator, position, "left")
    rate(task.pk, annotator, rating)
    task = leases.claim(aligner, project.pk, Stage.ALIGN)
    alignment.submit(task.pk, aligner, {"quaternion": [1, 0, 0, 0]}, [0, 0, 2], 1.0, 5.0)
    return cset


def new_object(image, annotator, x0):
    mask = box_mask(image, x0=x0, x1=x0 + 100)
    return ObjectInstance.objects.create(image=image, mask_rle=masks.encode(mask), area=int(mask.sum()),
                                         bbox=masks.bbox(mask), category="person", selected_by=annotator)


@pytest.fixture
def two_iterations(project, image, obj, annotator, annotator2, glb_meshes):
    """Iteration 1: one object rated 0.8. Iteration 2 (α_2 = 0.7): another object rated 0.6."""
    collect(project, obj, annotator, annotator2, 0.8, glb_meshes)
    first = project.current_iteration()
    first.closed_at = timezone.now()
    first.save()
    second = project.current_iteration()
    collect(project, new_object(image, annotator, 20), annotator, annotator2, 0.6, glb_meshes)
    second.alpha = 0.7  # raised for training after the collection (Stage 2 routes by the iteration's α too)
    second.save()
    return second


def rows(folder, name):
    return [json.loads(line) for line in (folder / f"{name}.jsonl").read_text().splitlines()]


def test_the_export_of_iteration_k_keeps_winners_of_every_iteration_at_alpha_k(tmp_path, two_iterations):
    summary = export_aggregate(two_iterations, tmp_path / "agg", heldout_share=0.0)
    train = tmp_path / "agg" / "train"
    samples = rows(train, "samples")
    assert [(s["iteration"], s["rating"], s["alpha"]) for s in samples] == [(1, 0.8, 0.7)]
    pairs = rows(train, "pairs")
    assert pairs and {p["iteration"] for p in pairs} == {1}      # the 0.6 winner's pairs are left out too
    assert summary["counts"]["train"] == {"samples": 1, "pairs": len(pairs),
                                          "dpo_pairs": sum(p["dpo_eligible"] for p in pairs)}
    assert all((train / s["mesh"]["path"]).is_file() and (train / s["image"]["path"]).is_file() for s in samples)
    manifest = json.loads((train / "manifest.json").read_text())
    assert manifest["alpha"] == 0.7 and manifest["iterations"] == [1, 2] and manifest["format"]["mesh"]["file"] == "ply"
    # At a lower bar both iterations' winners are kept.
    export_aggregate(two_iterations, tmp_path / "low", alpha=0.5, heldout_share=0.0)
    assert sorted(s["iteration"] for s in rows(tmp_path / "low" / "train", "samples")) == [1, 2]


def test_pairs_whose_loser_is_not_ours_stay_marked_out_of_dpo(tmp_path, two_iterations):
    export_aggregate(two_iterations, tmp_path / "agg", alpha=0.5, heldout_share=0.0)
    for p in rows(tmp_path / "agg" / "train", "pairs"):
        assert p["dpo_eligible"] == (p["rejected"]["mesh"]["source"] in ("model", "external"))


def test_held_out_objects_are_fixed_and_kept_apart_with_their_files(tmp_path, two_iterations):
    objects = sorted(ObjectInstance.objects.values_list("pk", flat=True))
    share = next(s / 100 for s in range(1, 100) if held_out(objects[0], s / 100) != held_out(objects[1], s / 100))
    export_aggregate(two_iterations, tmp_path / "agg", alpha=0.5, heldout_share=share)
    train, held = tmp_path / "agg" / "train", tmp_path / "agg" / "heldout"
    train_objects = {r["object_id"] for name in ("samples", "pairs") for r in rows(train, name)}
    held_objects = {r["object_id"] for name in ("samples", "pairs") for r in rows(held, name)}
    assert train_objects and held_objects and not train_objects & held_objects
    for folder in (train, held):
        for row in rows(folder, "pairs"):
            assert (folder / row["chosen"]["mesh"]["path"]).is_file() and (folder / row["mask"]["path"]).is_file()
    assert held_out(objects[0], share) == held_out(objects[0], share)  # a hash, not a draw


def test_bad_bars_and_used_folders_are_refused(tmp_path, two_iterations):
    with pytest.raises(ExportError, match="between 0 and 1"):
        export_aggregate(two_iterations, tmp_path / "a", alpha=1.5)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("")
    with pytest.raises(ExportError, match="not empty"):
        export_aggregate(two_iterations, tmp_path / "b")
