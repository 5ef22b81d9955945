"""Where a rated candidate set goes: Stage 3 when r ≥ α_k, else the artists (Stage 2.5).

Routing decides (artists/triage.py for failures); the stage it sends the object to opens the work (open_alignment_task,
open_artist_case), so each transition is written once. A candidate set whose generation closed
goes to Stage 2, or to the artists when it is empty: `engine.ranking.services.route_closed_set`,
the receiver of candidates' `set_closed`.
"""

from engine.alignment.services import open_alignment_task
from engine.artists.models import FailureCategory
from engine.artists.triage import route_failure
from engine.candidates.models import CandidateSet, SetStatus
from engine.intake.models import ObjectStatus
from engine.leases.models import Stage
from engine.records.pairs import pairs_against


def route(session, winner_id):
    """Route the session's set by its rating; return a summary of the decision.

    Only the first rated session of a set routes it; later sessions (overlap for agreement
    studies) are stored and counted in the ratings but move nothing. Call inside the rating's
    transaction: the set's row stays locked until it commits, so two sessions rated at the same
    moment cannot both find the set unrouted (each holds only its own task's lock).
    """
    cset = (CandidateSet.objects.select_for_update(of=("self",))
            .select_related("object__image", "iteration__project").get(pk=session.candidate_set_id))
    if cset.status != SetStatus.READY:
        return {"routed_to": None, "reason": "already routed by an earlier session"}
    obj = cset.object
    project = cset.iteration.project
    winner = cset.candidates.get(pk=winner_id)
    # The routing bar α is the project's; the iteration's α_k is the SFT bar of its export, not this one.
    # "None of these is this object" fails the set whatever α is (even at α = 0).
    if session.rating >= project.alpha and session.failure_category != FailureCategory.NO_MATCH:
        cset.status = SetStatus.ACCEPTED
        cset.save(update_fields=["status"])
        pairs_against(obj, cset.iteration, winner, rating=session.rating, rejected_ids=session.order)
        task = open_alignment_task(project, obj, cset, candidate=winner, rating=session.rating)
        return {"routed_to": Stage.ALIGN.value, "task_created": task.pk}
    cset.status = SetStatus.FAILED
    cset.save(update_fields=["status"])
    if not project.route_failures:
        obj.status = ObjectStatus.FAILED
        obj.save(update_fields=["status"])
        return {"routed_to": None, "reason": "rated below α; the project does not route failures"}
    # Triage decides whether an artist gets it (the project's artist share, clusters of look-alikes).
    return route_failure(project, obj, cset, best_candidate=winner, failure_category=session.failure_category,
                         rating=session.rating)
