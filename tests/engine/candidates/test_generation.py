"""Candidate generation with the real model suite, in-process (the embedded mode)."""

import time

import pytest

from engine.candidates import generation
from engine.candidates.models import Candidate, SetStatus
from engine.intake.models import ObjectStatus
from engine.leases.models import Stage, Task

pytestmark = pytest.mark.django_db


def test_plan_splits_n_over_available_generators(project, suite_settings):
    suite = generation.suite()
    plan = generation.plan(project, suite)
    assert sum(n for _, n, _ in plan) == project.n_candidates
    available = {name for name, g in suite.items() if g.availability().ok}
    assert {name for name, _, _ in plan} <= available
    assert "flow_model" not in available  # no checkpoint is promoted: it says so and is skipped
    assert suite["flow_model"].availability().reason


def test_object_gets_a_full_set_and_a_ranking_task(project, obj, suite_settings, eager_celery):
    project.n_candidates = 6
    project.save()
    started = time.perf_counter()
    cset = generation.start(obj.pk)
    cset.refresh_from_db()
    assert cset.status == SetStatus.READY, cset.generator_report
    candidates = list(cset.candidates.all())
    assert len(candidates) == 6
    assert len({(c.generator, c.seed) for c in candidates}) == 6
    assert all(c.mesh.name.endswith(".glb") and c.size_bytes > 0 and 0 < c.triangles <= 10_000 for c in candidates)
    assert cset.generator_report["flow_model"]["ok"] is False
    assert Task.objects.filter(stage=Stage.RANK, candidate_set=cset).count() == 1
    obj.refresh_from_db()
    assert obj.status == ObjectStatus.RANKING
    print(f"set of 6 in {time.perf_counter() - started:.1f}s")


def test_retried_job_adds_nothing(project, obj, suite_settings, eager_celery):
    cset = generation.start(obj.pk)
    before = Candidate.objects.filter(candidate_set=cset).count()
    name = cset.candidates.first().generator
    n = cset.candidates.filter(generator=name).count()
    report = generation.generate(cset.pk, name, n)
    assert report["ok"] and report["count"] == 0
    assert Candidate.objects.filter(candidate_set=cset).count() == before
