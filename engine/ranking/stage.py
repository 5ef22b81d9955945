"""Stage 2 as the queue and the pages know it; registered in RankingConfig.ready()."""

from engine.core.roles import ANNOTATOR
from engine.leases.models import Stage, Task
from engine.leases.registry import StageSpec
from engine.ranking.api import rank_payload, submit_rank


def one_ranking_per_annotator(quote):
    """An annotator never ranks the same object twice: overlap copies go to other annotators."""
    task = quote(Task._meta.db_table)
    return (f"NOT EXISTS (SELECT 1 FROM {task} s WHERE s.object_id = t.object_id AND s.stage = '{Stage.RANK.value}' "
            f"AND (s.completed_by_id = %(user)s OR (s.status = 'leased' AND s.lease_owner_id = %(user)s "
            f"AND s.lease_expires_at > %(now)s)))")


RANK = StageSpec(
    name=Stage.RANK.value, role=ANNOTATOR, label="Stage 2 · Rank", order=2,
    related=("image", "object", "candidate_set__iteration"), payload=rank_payload, submit=submit_rank,
    claim_sql=one_ranking_per_annotator,
)
