"""Stage 2 rules: open a session on a claimed task, record answers, rate the survivor."""

import random

from django.db import transaction
from django.utils import timezone

from engine.artists.services import open_artist_case
from engine.candidates.models import CandidateSet, SetStatus
from engine.core.errors import EngineError, ErrorCode, LeaseError
from engine.core.roles import is_simulated
from engine.intake import priorities
from engine.intake.models import ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage, Task, TaskStatus
from engine.quality import rules as quality_rules
from engine.quality import services as quality
from engine.quality.models import FlagReason
from engine.ranking import tournament
from engine.ranking.models import Comparison, RankingSession
from engine.ranking.routing import route


def open_ranking_tasks(project, obj, cset, copies=None):
    """Open the Stage 2 tasks of a ready set, one per annotator of the project's ranking overlap; return them.

    The one place ranking work is made; call it inside the transaction that readied the set.
    `copies` overrides the overlap: ranking_overlap, or two for the project's overlap_rate share of
    objects (agreement). A gold copy joins them when gold is below the project's gold_rate.
    """
    if copies is None:
        copies = quality_rules.ranking_copies(obj.pk, project.ranking_overlap, project.overlap_rate)
    gold = quality.due_gold(project, Stage.RANK)
    work = [(obj, cset)] * copies + ([(gold.object, gold.candidate_set)] if gold is not None else [])
    # The curriculum orders the queue: each object's category gets its share of the claims.
    tasks = [leases.create(project, Stage.RANK, image=o.image, object=o, candidate_set=c,
                           priority=priorities.priority_for(project, Stage.RANK, o.category)) for o, c in work]
    if gold is not None:  # served like the others; its answer is scored against the known one
        quality.record_copy(tasks.pop(), gold)
    obj.status = ObjectStatus.RANKING
    obj.save(update_fields=["status"])
    return tasks


def _check_stage(task):
    if task.stage != Stage.RANK:
        raise EngineError(f"Task {task.pk} is a {task.stage} task, not a ranking task.", code=ErrorCode.WRONG_STAGE)


def session_for(task, user):
    """Return the user's session on a rank task, opening it with a fresh random order."""
    _check_stage(task)
    session = RankingSession.objects.filter(task=task, annotator=user).first()
    if session:
        return session
    seed = random.SystemRandom().randrange(2**31)
    order = list(task.candidate_set.candidates.values_list("id", flat=True))
    random.Random(seed).shuffle(order)
    session, _ = RankingSession.objects.get_or_create(
        task=task, annotator=user, defaults={"candidate_set": task.candidate_set, "order": order, "seed": seed}
    )
    return session


def state_of(session):
    """Return the tournament state replayed from the session's stored comparisons."""
    rows = session.comparisons.order_by("position").values_list("left_id", "right_id", "kept_id")
    return tournament.replay(session.order, list(rows))


def compare(task_id, user, position, answer, seconds=0.0):
    """Record the answer to comparison `position`; a repeat of a recorded answer is a no-op."""
    with transaction.atomic():
        task = leases.hold(task_id, user)
        _check_stage(task)
        refuse_a_second_ranking(task, user)  # before session_for, which may open a session
        session = session_for(task, user)
        state = state_of(session)
        if position < state.position:
            done = session.comparisons.get(position=position)
            if done.answer != answer:
                raise LeaseError(
                    f"Comparison {position} is already answered '{done.answer}'; the next one is {state.position}.",
                    code=ErrorCode.OUT_OF_ORDER,
                )
            return session, state
        if position > state.position:
            raise LeaseError(f"The next comparison is {state.position}, not {position}.", code=ErrorCode.OUT_OF_ORDER)
        rng = tournament.tie_break_rng(session.seed, position)  # the draw the task announced for Equal
        try:
            new_state, kept, tie_break = tournament.answer(session.order, state, answer, rng)
        except tournament.TournamentError as exc:
            raise EngineError(str(exc), fields={"answer": [str(exc)]}) from exc
        Comparison.objects.create(
            session=session, annotator=user, position=position, left_id=state.left, right_id=state.right,
            answer=answer, kept_id=kept, tie_break=tie_break, seconds=max(0.0, float(seconds or 0.0)),
        )
    return session, new_state


def refuse_a_second_ranking(task, user):
    """Raise 409 if the user already completed a ranking of the task's object.

    The overlap copies of an object are for different annotators, and the claim never serves
    a user a second one; this refuses one that got through anyway (leased before that rule
    held, say), its comparisons as well as its rating. Call inside the comparison's or the
    rating's transaction, before it writes: it locks the set first, as routing does, so a
    rating of one copy and a comparison or rating of another run one after the other, and
    the second sees the first.
    """
    list(CandidateSet.objects.select_for_update(of=("self",)).filter(pk=task.candidate_set_id).values_list("pk"))
    refusal = second_ranking(task, user)
    if refusal is not None:
        raise refusal


def second_ranking(task, user):
    """Return the 409 already_ranked error if the user already ranked the task's object, else None.

    A read, without the lock refuse_a_second_ranking takes: what the task's GET says of the copy.
    """
    earlier = (Task.objects.filter(object_id=task.object_id, stage=Stage.RANK, status=TaskStatus.DONE, completed_by=user)
               .exclude(pk=task.pk).values_list("pk", flat=True).first())
    if earlier is None:
        return None
    return LeaseError(
        f"You already ranked object {task.object_id} (task {earlier}); its other copies are for other "
        f"annotators. Release task {task.pk} (POST /api/tasks/{task.pk}/release/) and claim another.",
        code=ErrorCode.ALREADY_RANKED,
    )


def rate(task_id, user, rating, rubric=None, failure_category="", seconds=0.0, key=""):
    """Rate the survivor, route the set, and complete the task; return the response body."""
    with transaction.atomic():
        task = leases.hold(task_id, user)
        _check_stage(task)
        refuse_a_second_ranking(task, user)  # before session_for, which may open a session
        session = session_for(task, user)
        state = state_of(session)
        if not state.done:
            raise EngineError(
                f"{state.total - state.shown} candidates are still unseen; finish the comparisons before rating.",
                code=ErrorCode.OUT_OF_ORDER, status_code=409,
                fields={"rating": ["The tournament is not finished."]},
            )
        session.rating = rating
        session.rubric = rubric or {}
        session.failure_category = failure_category or ""
        session.rated_at = timezone.now()
        session.save(update_fields=["rating", "rubric", "failure_category", "rated_at"])
        project = task.candidate_set.iteration.project
        copy = quality.copy_of(task)
        if copy is not None:  # a gold copy is scored, never routed; the annotator is told what an overlap copy gets
            quality.score(copy, user, quality_rules.rank_result(copy.gold.answer, state.winner, rating >= project.alpha))
            outcome = {"routed_to": None, "reason": "recorded as an overlap copy of an object already on its way"}
        else:
            fast = too_fast(session, user, project)
            outcome = hold_for_review(task, user, fast) if fast else route(session, state.winner)
        body = {"task": task.pk, "winner": state.winner, "rating": rating, **outcome}
        total = sum(session.comparisons.values_list("seconds", flat=True)) + float(seconds or 0.0)
        leases.complete(task, user, key=key, response=body, seconds=total)
    return body


def answer_gaps(session):
    """Return the seconds between a session's answers by the server's clock: from its opening to each
    comparison, and from the last comparison to the rating."""
    times = [session.started_at, *session.comparisons.order_by("position").values_list("created_at", flat=True),
             session.rated_at]
    return [(b - a).total_seconds() for a, b in zip(times, times[1:])]


def too_fast(session, user, project):
    """Return the figures of a ranking answered faster than a person can (a dict), or None.

    An answer faster than project.review_min_compare_seconds after the previous one came before the
    swap could be seen; a ranking with half of its answers that fast is held. Simulated annotators are
    not checked: their speed is a parameter of the run.
    """
    if project.review_min_compare_seconds <= 0 or is_simulated(user):
        return None
    gaps = answer_gaps(session)
    if not quality_rules.ranking_too_fast(gaps, project.review_min_compare_seconds):
        return None
    fast, total = quality_rules.fast_answers(gaps, project.review_min_compare_seconds)
    return {"answers": total, "too_fast": fast, "min_seconds": project.review_min_compare_seconds,
            "fastest": round(min(gaps), 3), "median": round(sorted(gaps)[len(gaps) // 2], 3)}


def hold_for_review(task, user, figures):
    """Flag a ranking that came too fast and leave its set unrouted; another annotator gets a fresh copy.

    The engineer's decision (engine.quality) then routes the set by it (accept) or leaves the set to
    the fresh copy (reject).
    """
    quality.flag(task, user, [FlagReason.TOO_FAST], figures)
    others = (Task.objects.filter(candidate_set_id=task.candidate_set_id, stage=Stage.RANK,
                                  status__in=[TaskStatus.OPEN, TaskStatus.LEASED], gold_copy__isnull=True)
              .exclude(pk=task.pk))
    created = None
    if not others.exists():
        created = open_ranking_tasks(task.project, task.object, task.candidate_set, copies=1)[0].pk
    detail = (f"{figures['too_fast']} of {figures['answers']} answers came within "
              f"{figures['min_seconds']:g} s of the one before; an engineer reviews this ranking before it counts.")
    return {"routed_to": None, "review": {"flagged": True, "reasons": [FlagReason.TOO_FAST.value], "detail": detail},
            "task_created": created}


def route_closed_set(sender, *, candidate_set, **kwargs):
    """Receiver of engine.candidates.signals.set_closed: a ready set goes to Stage 2, an empty one to the artists."""
    obj = candidate_set.object
    project = obj.image.project
    if candidate_set.status == SetStatus.FAILED:
        open_artist_case(project, obj, candidate_set, failure_category="", rating=0.0)
    else:
        open_ranking_tasks(project, obj, candidate_set)
