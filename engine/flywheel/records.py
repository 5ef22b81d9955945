"""What an iteration collected, for its FlywheelRun record: counts, acceptance, yield, seconds.

Simulated work (users of the `simulated` group, engine.simulation) fills the stages like any
other, so it counts in the stage counts; its seconds are a simulated think time, so they are
kept apart from people's.
"""

from collections import Counter, defaultdict

from django.db.models import Count

from engine.candidates.models import Candidate, CandidateSet, SetStatus
from engine.core.roles import SIMULATED_GROUP
from engine.intake.models import ObjectInstance
from engine.leases.models import Task, TaskStatus
from engine.records.models import PreferencePair, TrainingSample


def stage_counts(iteration):
    """Return objects per status (of the iteration's sets), sets per status, samples and pairs of iteration k."""
    objects = ObjectInstance.objects.filter(candidate_sets__iteration=iteration).values("status").annotate(n=Count("id"))
    sets = CandidateSet.objects.filter(iteration=iteration).values("status").annotate(n=Count("id"))
    return {"objects": {r["status"]: r["n"] for r in objects}, "sets": {r["status"]: r["n"] for r in sets},
            "samples": TrainingSample.objects.filter(iteration=iteration).count(),
            "pairs": PreferencePair.objects.filter(iteration=iteration).count()}


def acceptance_rate(iteration):
    """Return the share of the iteration's finished sets whose winner was rated r ≥ α (None before any)."""
    done = Counter(CandidateSet.objects.filter(iteration=iteration, status__in=[SetStatus.ACCEPTED, SetStatus.FAILED])
                   .values_list("status", flat=True))
    total = sum(done.values())
    return done[SetStatus.ACCEPTED] / total if total else None


def generator_yield(iteration):
    """Return rows per generator: sets it proposed to, sets its candidate won (a training sample), share."""
    entered = Counter(dict(Candidate.objects.filter(candidate_set__iteration=iteration)
                           .values("generator").annotate(n=Count("candidate_set", distinct=True))
                           .values_list("generator", "n")))
    won = Counter(TrainingSample.objects.filter(iteration=iteration).values_list("generator", flat=True))
    return sorted(({"generator": g, "sets": n, "wins": won[g], "share": won[g] / n} for g, n in entered.items()),
                  key=lambda r: (-r["share"], r["generator"]))


def annotation_seconds(iteration):
    """Return {"people": {stage: s}, "simulated": {stage: s}} over tasks done during the iteration."""
    tasks = Task.objects.filter(project=iteration.project, status=TaskStatus.DONE, completed_at__gte=iteration.started_at)
    if iteration.closed_at:
        tasks = tasks.filter(completed_at__lte=iteration.closed_at)
    out = {"people": defaultdict(float), "simulated": defaultdict(float)}
    simulated = tasks.filter(completed_by__groups__name=SIMULATED_GROUP).values_list("pk", flat=True)
    simulated = set(simulated)
    for pk, stage, seconds in tasks.values_list("pk", "stage", "seconds_spent"):
        out["simulated" if pk in simulated else "people"][stage] += seconds
    return {who: {stage: round(s, 2) for stage, s in rows.items()} for who, rows in out.items()}


def record(run):
    """Fill the run's counts, acceptance rate, generator yield and annotation seconds from the database."""
    run.counts = {**run.counts, **stage_counts(run.iteration)}
    run.acceptance_rate = acceptance_rate(run.iteration)
    run.generator_yield = generator_yield(run.iteration)
    run.annotation_seconds = annotation_seconds(run.iteration)
