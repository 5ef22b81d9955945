"""A tiny project goes through every stage by simulated annotators alone, over HTTP."""

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage

from engine.alignment.pose import matrix_from_quaternion
from engine.artists.models import ArtistCase
from engine.core.models import Project
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.leases.models import Task, TaskStatus
from engine.ranking.models import RankingSession
from engine.records.models import PreferencePair, TrainingSample
from engine.simulation import judging
from engine.simulation.composites import seed_composites
from engine.simulation.pool import SIMULATED_GROUP, create_pool, run_pool
from engine.simulation.server import serve
from engine.simulation.truth import TruthBook
from model_suite.meshio import load_mesh
from tests.engine.simulation.conftest import FAST_GENERATORS

pytestmark = pytest.mark.django_db(transaction=True)


def make_project(name, alpha, n=4):
    return Project.objects.create(name=name, alpha=alpha, n_candidates=n, generators=FAST_GENERATORS,
                                  taxonomy=["chair", "stool", "table", "shelf", "bench", "mug", "bottle", "bowl"])


def candidate_distances(cset, truth):
    """Return {candidate id: distance to the truth}, judged here from the stored files, not through the pool."""
    def read(candidate):
        with candidate.mesh.open("rb") as f:
            return f.read()

    book = TruthBook()
    return {c.pk: book.distance(truth, c.pk, lambda c=c: read(c)) for c in cset.candidates.all()}


def test_simulated_annotators_take_a_project_from_stage_1_to_training_data(fast_suite, shape_library):
    project = make_project("sim-e2e", alpha=0.5)
    truths = seed_composites(project, 3, seed=0, library_dir=shape_library)
    assert len(truths) == 3
    pool = create_pool(annotators=2, artists=1, prefix="e2e", seed=0)
    with serve() as url:
        # Noise 0: each answer is the truly closer mesh (Equal within 5 %), so the winners can be checked.
        report = run_pool(pool, url, project, noise=0.0, idle_seconds=3)

    assert report.errors == [] and report.skipped == 0, report.as_dict()
    assert report.stop_reason.startswith("no work"), report.stop_reason
    # Each wait is kept with its start, so a share can be taken over part of the run (the bench's steady state).
    for role, seconds in report.idle_seconds.items():
        spans = [span for span in report.idle_spans if span[0] == role]
        assert sum(length for _, _, length in spans) == pytest.approx(seconds)
        assert all(0 <= start <= report.seconds for _, start, _ in spans), spans
    assert "idle_spans" not in report.as_dict()
    objects = ObjectInstance.objects.filter(image__project=project)
    assert objects.count() == 3 and set(objects.values_list("status", flat=True)) == {ObjectStatus.DONE}
    cases = ArtistCase.objects.filter(task__project=project).count()
    assert report.counts == {"select": 3, "rank": 3, "artist": cases, "align": 3}, report.as_dict()
    assert report.comparisons == 3 * 3  # N - 1 comparisons for each of 3 sets of 4
    assert not Task.objects.filter(project=project).exclude(status=TaskStatus.DONE).exists()
    simulated = set(User.objects.filter(groups__name=SIMULATED_GROUP).values_list("pk", flat=True))
    assert set(Task.objects.filter(project=project).values_list("completed_by", flat=True)) <= simulated

    book = TruthBook()
    for session in RankingSession.objects.filter(task__project=project).select_related("task"):
        truth = book.get(session.task.image_id)
        distance = candidate_distances(session.candidate_set, truth)
        winner = session.comparisons.order_by("-position").first().kept_id
        best = min(distance.values())
        assert distance[winner] + judging.FLOOR <= (best + judging.FLOOR) * np.exp(judging.EQUAL_MARGIN) + 1e-9
        assert session.rating == pytest.approx(np.exp(-(distance[winner] + judging.FLOOR) / judging.RATING_SCALE))

    samples = TrainingSample.objects.filter(object__image__project=project).select_related("object__image")
    assert samples.count() == 3
    for sample in samples:
        truth = sample.object.image.simulated_truth
        R = matrix_from_quaternion(sample.rotation)
        # Stage 3 placed the winning mesh as it must stand to look like the truth: R = R_true · (its best turn),
        # so the mesh turned by R_trueᵀ R is as near the true shape as any turn of it (2° of noise by default).
        with default_storage.open(sample.mesh, "rb") as f:
            vertices, faces = load_mesh(f.read())
        mesh, true_points = judging.surface_points(vertices, faces), book.get(truth.image_id).points()
        turn = np.asarray(truth.rotation).T @ R
        as_placed, _ = judging.best_yaw(mesh @ turn.T, true_points, yaws=1, fine_step=0)  # no search: as placed
        best, _ = judging.best_yaw(mesh, true_points)
        assert as_placed <= best + 0.02, (as_placed, best)  # 2° of tilt moves the surface by up to 0.017
        assert abs(turn[1, 1] - 1) < 0.01  # a turn about the up axis (and the noise), no tilt
        assert np.allclose(sample.translation, truth.translation, atol=0.1 * truth.translation[2])
        assert sample.scale == pytest.approx(truth.scale, rel=0.1)
    # Accepted sets give (winner, each other candidate); an artist's mesh is preferred to every candidate.
    assert PreferencePair.objects.filter(object__image__project=project).count() == 3 * 3 + cases


def test_a_set_rated_below_alpha_gets_the_true_mesh_from_a_simulated_artist(fast_suite, shape_library):
    project = make_project("sim-artist", alpha=1.0)  # r < 1 always: every set goes to the artists
    [truth] = seed_composites(project, 1, seed=3, library_dir=shape_library)
    pool = create_pool(annotators=1, artists=1, prefix="art", seed=1)
    with serve() as url:
        report = run_pool(pool, url, project.pk, artist_delay=0.2, idle_seconds=3)

    assert report.counts == {"select": 1, "rank": 1, "artist": 1, "align": 1}, report.as_dict()
    sample = TrainingSample.objects.get(object__image=truth.image)
    assert sample.generator == "artist"
    with truth.mesh.open("rb") as f:
        true_mesh = f.read()
    uploaded = sample.alignment.artist_mesh
    with uploaded.original.open("rb") as f:
        assert f.read() == true_mesh
    assert report.stage_seconds["artist"] >= 0.2


def test_the_pool_stops_at_its_target_and_its_deadline(fast_suite, shape_library):
    project = make_project("sim-stop", alpha=0.0)
    seed_composites(project, 2, seed=5, library_dir=shape_library)
    pool = create_pool(annotators=1, artists=0, prefix="stop", seed=2)
    with serve() as url:
        late = run_pool(pool, url, project, speed=0.5, deadline=0.3, idle_seconds=30)
        assert late.stop_reason == "deadline" and late.seconds < 5, late.as_dict()
        done = run_pool(pool, url, project, target=1, idle_seconds=30)
    assert done.stop_reason == "target of 1 samples reached", done.as_dict()
    assert TrainingSample.objects.filter(object__image__project=project).count() >= 1


def test_a_pool_that_cannot_reach_the_engine_says_so():
    pool = create_pool(annotators=2, artists=0, prefix="lost")
    report = run_pool(pool, "http://127.0.0.1:9", 1, idle_seconds=1)  # port 9 (discard): nothing listens
    assert report.stop_reason == "every member stopped (see errors)" and sum(report.counts.values()) == 0
    assert len(report.errors) == 2 and all("could not sign in" in e for e in report.errors), report.errors
