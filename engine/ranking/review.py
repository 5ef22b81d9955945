"""Stage 2 as quality control knows it: a rated ranking as a gold answer, and the review of a held one."""

from engine.core.errors import EngineError
from engine.leases.models import Stage
from engine.quality.registry import QualitySpec
from engine.ranking.agreement import overlap_agreement
from engine.ranking.models import RankingSession
from engine.ranking.routing import route
from engine.ranking.services import state_of


def gold_ranking(task):
    """Return the gold fields of a completed ranking: its winner, and whether its rating cleared α."""
    session = RankingSession.objects.filter(task=task, rating__isnull=False).select_related("task__project").first()
    if session is None:
        raise EngineError(f"Task {task.pk} has no rated ranking to take as gold.", fields={"task": ["not rated"]})
    winner = state_of(session).winner
    return {"candidate_set": session.candidate_set,
            "answer": {"winners": [winner], "accept": session.rating >= session.task.project.alpha}}


def review_ranking(flag, accept):
    """Accepted: the held ranking routes its set, unless another annotator's copy routed it first. Rejected: it never does."""
    if not accept:
        return {"routed_to": None, "reason": "rejected: the set is left to the other copies of its ranking"}
    session = RankingSession.objects.filter(task=flag.task, annotator=flag.user, rating__isnull=False).first()
    if session is None:
        return {"routed_to": None, "reason": "the held ranking is gone"}
    return route(session, state_of(session).winner)


RANK_QUALITY = QualitySpec(stage=Stage.RANK.value, gold_answer=gold_ranking, review=review_ranking,
                           agreement=overlap_agreement)
