"""Gold answers from the hidden truth of the composites: what quality control checks people against.

Stage 2: the candidates whose distance to the true shape (judging.shape_distance) is within
WINNER_MARGIN of the best one's are the acceptable winners; the best one's noiseless rating
exp(−d / RATING_SCALE) says whether the set should pass α, unless it is within DECISION_BAND of
α, where the decision is not checked. A set where most candidates are acceptable tells nothing
about the annotator and is skipped.
Stage 3: the true pose, checked on the up axis only (rules.rotation_error_deg "up"), since the
aligned mesh is a candidate, a look-alike of the true shape whose yaw may differ.
"""

import math

from django.db import transaction

from engine.alignment.models import Alignment
from engine.alignment.pose import quaternion_from_matrix
from engine.candidates.models import CandidateSet, SetStatus
from engine.leases.models import Stage
from engine.quality.models import GoldSource, GoldStandard
from engine.simulation import judging
from engine.simulation.truth import TruthBook

WINNER_MARGIN = 0.15  # a candidate within 15 % of the best distance (plus the floor) is an acceptable winner
DECISION_BAND = 0.1  # a best rating this close to α leaves the accept decision unchecked


def rank_answer(distances, alpha):
    """Return the Stage 2 gold answer of {candidate id: distance to the truth}, or None if it tells nothing."""
    best = min(distances.values())
    bar = (best + judging.FLOOR) * (1 + WINNER_MARGIN) - judging.FLOOR
    winners = sorted(cid for cid, d in distances.items() if d <= bar)
    if len(winners) * 2 > len(distances):
        return None
    rating = math.exp(-(best + judging.FLOOR) / judging.RATING_SCALE)
    accept = None if abs(rating - alpha) < DECISION_BAND else rating >= alpha
    return {"winners": winners, "accept": accept, "rating": round(rating, 4),
            "distances": {str(cid): round(d, 5) for cid, d in distances.items()}}


def gold_from_truth(project, stages=(Stage.RANK.value, Stage.ALIGN.value), book=None):
    """Make gold answers of the project's composites that have a candidate set; return counts by stage.

    Idempotent: a composite's object gets one gold answer per stage.
    """
    book = book or TruthBook()
    made = {stage: 0 for stage in stages}
    made["skipped"] = 0
    sets = (CandidateSet.objects.filter(iteration__project=project, object__image__simulated_truth__isnull=False,
                                        status__in=[SetStatus.READY, SetStatus.ACCEPTED, SetStatus.FAILED])
            .select_related("object").prefetch_related("candidates").order_by("id"))
    for cset in sets:
        obj = cset.object
        truth = book.get(obj.image_id)
        if truth is None or not truth.matches(obj.mask_rle):
            made["skipped"] += 1
            continue
        candidates = list(cset.candidates.all())
        if not candidates:
            continue
        distances = {c.pk: book.distance(truth, c.pk, lambda c=c: c.mesh.open("rb").read()) for c in candidates}
        answer = rank_answer(distances, project.alpha)
        with transaction.atomic():
            if Stage.RANK.value in stages and answer is not None:
                _, created = GoldStandard.objects.get_or_create(
                    project=project, stage=Stage.RANK.value, object=obj, source=GoldSource.SIMULATION,
                    defaults={"candidate_set": cset, "answer": answer})
                made[Stage.RANK.value] += created
            if Stage.ALIGN.value in stages:
                # The mesh an annotator aligned for this object, else the closest candidate.
                aligned = (Alignment.objects.filter(task__object=obj, candidate__candidate_set=cset)
                           .values_list("candidate_id", flat=True).first())
                candidate = aligned or min(distances, key=distances.get)
                pose = {"rotation": quaternion_from_matrix(truth.rotation).tolist(),
                        "translation": [float(v) for v in truth.translation], "scale": float(truth.scale),
                        "rotation_check": "up", "rating": answer["rating"] if answer else 1.0}
                _, created = GoldStandard.objects.get_or_create(
                    project=project, stage=Stage.ALIGN.value, object=obj, source=GoldSource.SIMULATION,
                    defaults={"candidate_set": cset, "candidate_id": candidate, "answer": pose})
                made[Stage.ALIGN.value] += created
    return made
