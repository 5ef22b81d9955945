"""Gold answers from the composites' hidden truth, served to simulated annotators and scored."""

import numpy as np
import pytest

from engine.alignment.pose import matrix_from_quaternion
from engine.candidates.models import CandidateSet
from engine.leases.models import Stage
from engine.quality.models import GoldCopy, GoldStandard
from engine.simulation.composites import seed_composites
from engine.simulation.gold import gold_from_truth, rank_answer
from engine.simulation.models import SimulatedTruth
from engine.simulation.pool import create_pool, run_pool
from engine.simulation.server import serve
from engine.simulation.truth import TruthBook
from tests.engine.simulation.test_pool import candidate_distances, make_project


def test_rank_answer_keeps_the_candidates_near_the_best_and_checks_only_clear_decisions():
    answer = rank_answer({1: 0.02, 2: 0.022, 3: 0.2, 4: 0.5}, alpha=0.5)
    assert answer["winners"] == [1, 2]
    assert answer["accept"] is True  # exp(−0.03 / 0.06) ≈ 0.61, clear of α by more than 0.1
    assert rank_answer({1: 0.03, 2: 0.3}, alpha=0.5)["accept"] is None  # exp(−0.04 / 0.06) ≈ 0.51: too close to α
    assert rank_answer({1: 0.05, 2: 0.3}, alpha=0.5)["accept"] is False  # ≈ 0.37: clearly below
    assert rank_answer({1: 0.1, 2: 0.1, 3: 0.1}, alpha=0.5) is None  # every candidate is as good: tells nothing


@pytest.mark.django_db(transaction=True)
def test_gold_from_truth_is_served_to_the_pool_and_scored(fast_suite, shape_library):
    project = make_project("sim-gold", alpha=0.5)
    seed_composites(project, 3, seed=0, library_dir=shape_library)
    pool = create_pool(annotators=2, artists=1, prefix="gold", seed=0)
    with serve() as url:
        run_pool(pool, url, project, noise=0.0, idle_seconds=3)
    made = gold_from_truth(project)
    sets = CandidateSet.objects.filter(iteration__project=project).count()
    assert made["align"] == sets - made["skipped"] >= 2 and made["rank"] >= 1, made
    assert gold_from_truth(project)["align"] == 0  # idempotent
    book = TruthBook()
    for gold in GoldStandard.objects.filter(stage=Stage.RANK):
        truth = book.get(gold.object.image_id)
        distances = candidate_distances(gold.candidate_set, truth)
        assert min(distances, key=distances.get) in gold.answer["winners"]
    for gold in GoldStandard.objects.filter(stage=Stage.ALIGN):
        truth = SimulatedTruth.objects.get(image=gold.object.image)
        assert np.allclose(matrix_from_quaternion(gold.answer["rotation"]), truth.rotation, atol=1e-6)
        assert gold.answer["rotation_check"] == "up" and gold.candidate_id is not None
    project.gold_rate = 0.5
    project.save()
    seed_composites(project, 2, seed=1, library_dir=shape_library)
    with serve() as url:
        run_pool(pool, url, project, noise=0.0, idle_seconds=3)
    copies = GoldCopy.objects.filter(task__project=project)
    aligned = copies.filter(task__stage=Stage.ALIGN, passed__isnull=False)
    assert aligned.count() >= 1
    # A copy waits only for someone who has not seen its object; never two of one gold at once.
    waiting = copies.filter(passed__isnull=True)
    assert waiting.values("gold").distinct().count() == waiting.count()
    # Noise 0: the pool's poses are the truth within its 2° and 1 % noise, and its winners the nearest candidates.
    assert aligned.filter(passed=True).count() == aligned.count()
