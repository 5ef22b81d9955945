"""Agreement between annotators who ranked the same candidate set (overlap copies).

Two rated sessions of one set by different people agree on the winner when both kept the same
candidate, and on the decision when both rated on the same side of the project's α. Gold copies
are left out (they are scored against the known answer instead).
"""

from collections import defaultdict
from itertools import combinations

from engine.ranking.models import Comparison, RankingSession


def last_kept(session_ids):
    """Return {session id: the candidate its last comparison kept} (the winner of a finished session)."""
    last = {}
    for sid, position, kept in (Comparison.objects.filter(session_id__in=session_ids)
                                .values_list("session_id", "position", "kept_id")):
        if sid not in last or position > last[sid][0]:
            last[sid] = (position, kept)
    return {sid: kept for sid, (_, kept) in last.items()}


def overlap_agreement(project, users):
    """Return {user id: {pairs, same_winner, same_decision}} over the sets two or more of `users` ranked.

    `users` is a queryset of the people counted; a pair counts for both of its annotators.
    """
    sessions = list(RankingSession.objects
                    .filter(candidate_set__iteration__project=project, rating__isnull=False, annotator__in=users,
                            task__gold_copy__isnull=True)
                    .values_list("id", "candidate_set_id", "annotator_id", "rating"))
    winners = last_kept([s[0] for s in sessions])
    by_set = defaultdict(list)
    for sid, cset, user, rating in sessions:
        by_set[cset].append((user, winners.get(sid), rating >= project.alpha))
    out = defaultdict(lambda: {"pairs": 0, "same_winner": 0, "same_decision": 0})
    for rows in by_set.values():
        for (u1, w1, d1), (u2, w2, d2) in combinations(rows, 2):
            if u1 == u2:
                continue
            for user in (u1, u2):
                out[user]["pairs"] += 1
                out[user]["same_winner"] += int(w1 is not None and w1 == w2)
                out[user]["same_decision"] += int(d1 == d2)
    return dict(out)
