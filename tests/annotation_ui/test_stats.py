"""The dashboard's statistics as plain functions (no browser)."""

import pytest

from annotation_ui import plots, stats
from engine.flywheel.models import ModelCheckpoint
from engine.leases import services as leases
from engine.ranking import services as ranking
from engine.ranking.rubric import rating_for_level
from tests.annotation_ui.conftest import box_mask, ready_set

pytestmark = pytest.mark.django_db


def rank_all(user, project, answers, level, failure=""):
    """Claim the next ranking task, answer every comparison, rate the survivor; return the task."""
    task = leases.claim(user, project.pk, "rank")
    for position, answer in enumerate(answers):
        ranking.compare(task.pk, user, position, answer, seconds=2.0)
    ranking.rate(task.pk, user, rating_for_level(level), {"level": level}, failure, seconds=1.0)
    return task


def test_report_of_an_iteration(annotator, obj, glb_meshes):
    from engine.intake import masks
    from engine.intake.models import ObjectInstance

    project = obj.image.project
    first = ready_set(obj, glb_meshes, 4)
    mask = box_mask(obj.image, 10, 10, 120, 120)
    other = ObjectInstance.objects.create(image=obj.image, mask_rle=masks.encode(mask), area=int(mask.sum()),
                                          bbox=masks.bbox(mask), category="chair", selected_by=annotator)
    ready_set(other, glb_meshes, 3)
    rank_all(annotator, project, ["left", "equal", "right"], level=4)
    rank_all(annotator, project, ["right", "left"], level=1, failure="occlusion")
    iteration = project.current_iteration()
    ModelCheckpoint.objects.create(name="sft-1", path="/tmp/sft-1", stage="sft", iteration=iteration,
                                   metrics={"val_loss": 0.25, "voxel_iou": 0.5, "note": "text is skipped"})

    report = stats.report(project, iteration)
    assert report["acceptance"] == {"rated": 2, "accepted": 1, "rate": 0.5}
    assert report["artist_queue"] == {"occlusion": 1}
    assert report["objects"] == {"aligning": 1, "artist": 1}
    rank = next(r for r in report["throughput"] if r["stage"] == "rank")
    assert rank["done"] == 2 and rank["median_seconds"] == pytest.approx((7.0 + 5.0) / 2)
    assert report["annotators"] == [{"user": "ann", "stage": "rank", "done": 2, "median_seconds": 6.0}]
    assert sum(r["wins"] for r in report["yield"]) == 2
    assert all(0 <= r["share"] <= 1 and r["wins"] <= r["sets"] for r in report["yield"])
    generators = {r["name"]: r for r in report["ratings"]["generators"]}
    assert sum(r["comparisons"] for r in generators.values()) == 2 * 5  # each comparison has two sides
    assert all(r["ci"][0] <= r["rating"] <= r["ci"][1] for r in generators.values())
    assert set(generators) <= set(first.candidates.values_list("generator", flat=True)) | set(
        other.candidate_sets.get().candidates.values_list("generator", flat=True))
    assert report["training"][0]["metrics"] == {"val_loss": 0.25, "voxel_iou": 0.5}

    history = stats.rating_history(project)
    assert history["generators"] and history["checkpoints"] == {}
    assert all(len(points) >= 1 for points in history["generators"].values())
    svg = plots.ratings_svg(history)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_chosen_iteration_defaults_to_the_open_one(project):
    first = project.current_iteration()
    assert stats.chosen_iteration(project) == first
    assert stats.chosen_iteration(project, "99") == first
    assert stats.chosen_iteration(project, str(first.number)) == first


def test_live_status_counts_held_tasks_and_treats_an_expired_lease_as_waiting(annotator, annotator2, obj, glb_meshes):
    from datetime import timedelta

    from django.utils import timezone

    from engine.leases.models import Task

    project = obj.image.project
    ready_set(obj, glb_meshes, 2)
    held = leases.claim(annotator, project.pk, "rank")
    rank = lambda live: next(r for r in live["stages"] if r["stage"] == "rank")  # noqa: E731
    live = stats.live_status(project)
    assert rank(live)["working"] == 1 and live["people"] == 1
    assert rank(live)["waiting"] == Task.objects.filter(project=project, stage="rank").count() - 1
    Task.objects.filter(pk=held.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    live = stats.live_status(project)
    assert rank(live)["working"] == 0 and live["people"] == 0
    assert rank(live)["waiting"] == Task.objects.filter(project=project, stage="rank").count()
