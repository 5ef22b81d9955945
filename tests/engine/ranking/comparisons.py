"""Stored Stage 2 comparisons made directly in the database, for the ratings tests."""

import numpy as np

from engine.candidates.models import Candidate, CandidateSet, SetStatus
from engine.core.models import Iteration
from engine.flywheel.models import ModelCheckpoint
from engine.intake.models import ObjectInstance
from engine.leases.models import Stage, Task
from engine.ranking.models import Answer, Comparison, RankingSession


def iteration(project, number):
    """Return iteration `number` of the project, creating it if needed."""
    found, _ = Iteration.objects.get_or_create(project=project, number=number, defaults={"alpha": project.alpha})
    return found


def candidates(image, it, specs):
    """Return candidates of one new object's set in iteration `it`, one per (generator, checkpoint name or None)."""
    obj = ObjectInstance.objects.create(image=image, mask_rle={}, area=1, bbox=[0, 0, 1, 1], category="chair")
    cset = CandidateSet.objects.create(object=obj, iteration=it, status=SetStatus.READY)
    made = []
    for seed, (generator, checkpoint) in enumerate(specs):
        ckpt = None
        if checkpoint:
            ckpt, _ = ModelCheckpoint.objects.get_or_create(name=checkpoint, defaults={"path": f"/tmp/{checkpoint}"})
        made.append(Candidate.objects.create(
            candidate_set=cset, generator=generator, generator_version="1", kind="model" if ckpt else "retrieval",
            checkpoint=ckpt, seed=seed, mesh=f"candidates/{seed}.glb"))
    return made


def play(user, pairs):
    """Store comparisons [(left, right, answer)] of one candidate set as one session of `user`."""
    cset = pairs[0][0].candidate_set
    task = Task.objects.create(project=cset.iteration.project, stage=Stage.RANK, image=cset.object.image,
                               object=cset.object, candidate_set=cset)
    session = RankingSession.objects.create(task=task, candidate_set=cset, annotator=user, order=[], seed=0)
    Comparison.objects.bulk_create([
        Comparison(session=session, annotator=user, position=i, left=left, right=right, answer=answer,
                   kept=right if answer == Answer.RIGHT else left)
        for i, (left, right, answer) in enumerate(pairs)])


def head_to_head(user, a, b, games, share, seed=0):
    """Store `games` comparisons of a against b, a winning each with probability `share`, sides alternating."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(games):
        a_wins = rng.random() < share
        left, right = (a, b) if i % 2 == 0 else (b, a)
        pairs.append((left, right, Answer.LEFT if a_wins == (left is a) else Answer.RIGHT))
    play(user, pairs)
