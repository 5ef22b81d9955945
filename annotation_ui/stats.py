"""Statistics of the engineers' dashboard, as plain functions over the engine's models.

A report covers one iteration of a project: tasks completed between the iteration's start
and its close (or now), and the candidate sets generated in it.
"""

import statistics
from collections import Counter, defaultdict

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone

from engine.artists.models import ArtistCase
from engine.candidates.models import Candidate, CandidateSet, SetStatus
from engine.core.roles import SIMULATED_GROUP
from engine.flywheel.models import ModelCheckpoint
from engine.intake import curriculum, priorities
from engine.intake.models import ObjectInstance
from engine.leases.models import Stage, Task, TaskStatus
from engine.quality import figures as quality
from engine.ranking import ratings
from engine.ranking.models import Comparison, RankingSession

OPEN = (TaskStatus.OPEN, TaskStatus.LEASED)


def human_users():
    """Return the users who are people: everyone but the members of the `simulated` group.

    Simulated work is real work (it fills the stages and the ratings), but its seconds and
    agreement say nothing about people: every statistic of human quality counts these users only.
    """
    return get_user_model().objects.exclude(groups__name=SIMULATED_GROUP)


def open_tasks_by_stage(project):
    """Return {stage: number of tasks open or leased} for a project."""
    rows = Task.objects.filter(project=project, status__in=OPEN).values("stage").annotate(n=Count("id"))
    return {r["stage"]: r["n"] for r in rows}


def live_status(project, now=None):
    """Return, per stage, the tasks waiting and those held under a live lease now, and how many people hold one."""
    now = now or timezone.now()
    held = Q(status=TaskStatus.LEASED, lease_expires_at__gte=now)  # an expired lease is work waiting again
    tasks = Task.objects.filter(project=project, status__in=OPEN)
    counts = {r["stage"]: r for r in tasks.values("stage").annotate(
        working=Count("id", filter=held), waiting=Count("id", filter=~held))}
    stages = [{"stage": stage, "label": label, "waiting": counts.get(stage, {}).get("waiting", 0),
               "working": counts.get(stage, {}).get("working", 0)} for stage, label in Stage.choices]
    people = tasks.filter(held).values("lease_owner").distinct().count()
    return {"stages": stages, "people": people, "at": now}


def chosen_iteration(project, raw=None):
    """Return the iteration numbered `raw`, else the open one, else the latest (None if there is none)."""
    iterations = project.iterations.order_by("-number")
    if raw and str(raw).isdigit():
        found = iterations.filter(number=int(raw)).first()
        if found:
            return found
    return iterations.filter(closed_at__isnull=True).first() or iterations.first()


def window(iteration):
    """Return (start, end) of an iteration; an open one runs until now."""
    return iteration.started_at, iteration.closed_at or timezone.now()


def done_tasks(project, iteration):
    """Return the tasks of the project completed during the iteration."""
    start, end = window(iteration)
    return Task.objects.filter(project=project, status=TaskStatus.DONE, completed_at__gte=start, completed_at__lte=end)


def objects_by_status(project, iteration):
    """Return {object status: count} over the objects of an iteration.

    An object belongs to the iteration that generated its candidates; an object not yet at
    generation belongs to the iteration during which it was selected.
    """
    start, end = window(iteration)
    objects = ObjectInstance.objects.filter(image__project=project).filter(
        Q(candidate_sets__iteration=iteration)
        | Q(candidate_sets__isnull=True, selected_at__gte=start, selected_at__lte=end)
    ).distinct()
    rows = ObjectInstance.objects.filter(pk__in=objects.values("pk")).values("status").annotate(n=Count("id"))
    return {r["status"]: r["n"] for r in rows}


def throughput(project, iteration):
    """Return one row per stage: tasks done, open, per hour, and the median seconds per task."""
    start, end = window(iteration)
    hours = max((end - start).total_seconds() / 3600, 1 / 60)
    done, seconds = Counter(), defaultdict(list)
    humans = set(human_users().values_list("pk", flat=True))
    for stage, user, s in done_tasks(project, iteration).values_list("stage", "completed_by", "seconds_spent"):
        done[stage] += 1
        if user in humans:  # a simulated annotator's seconds are its think time, not a person's
            seconds[stage].append(s)
    waiting = open_tasks_by_stage(project)
    return [
        {"stage": stage, "label": label, "done": done[stage], "open": waiting.get(stage, 0),
         "per_hour": done[stage] / hours,
         "median_seconds": statistics.median(seconds[stage]) if seconds[stage] else None}
        for stage, label in Stage.choices
    ]


def per_annotator(project, iteration):
    """Return rows (user, stage, done, median seconds) of the people working in the iteration, busiest first."""
    seconds = defaultdict(list)
    tasks = done_tasks(project, iteration).filter(completed_by__in=human_users())
    for user, stage, s in tasks.values_list("completed_by__username", "stage", "seconds_spent"):
        seconds[(user or "?", stage)].append(s)
    rows = [{"user": u, "stage": st, "done": len(v), "median_seconds": statistics.median(v)}
            for (u, st), v in seconds.items()]
    return sorted(rows, key=lambda r: (-r["done"], r["user"], r["stage"]))


def rated_sessions(iteration):
    """Return the rated sessions of an iteration's sets, but not those of gold copies (engine.quality)."""
    return RankingSession.objects.filter(candidate_set__iteration=iteration, rating__isnull=False,
                                         task__gold_copy__isnull=True)


def acceptance(iteration):
    """Return {rated, accepted, rate}: the share of rated sessions with r ≥ α of the iteration."""
    ratings = list(rated_sessions(iteration).values_list("rating", flat=True))
    accepted = sum(1 for r in ratings if r >= iteration.alpha)
    return {"rated": len(ratings), "accepted": accepted, "rate": accepted / len(ratings) if ratings else None}


def artist_queue(project):
    """Return {failure category: open cases} of the project's artist queue."""
    rows = (ArtistCase.objects.filter(task__project=project, task__status__in=OPEN)
            .values("failure_category").annotate(n=Count("id")).order_by("failure_category"))
    return {r["failure_category"]: r["n"] for r in rows}


def winners(sessions):
    """Return {session id: winning candidate id}: the kept side of each session's last comparison."""
    last = {}
    for sid, position, kept in (Comparison.objects.filter(session__in=sessions)
                                .values_list("session_id", "position", "kept_id")):
        if sid not in last or position > last[sid][0]:
            last[sid] = (position, kept)
    return {sid: kept for sid, (_, kept) in last.items()}


def generator_yield(iteration):
    """Return rows per generator: sets it took part in, sets it won, and the win share."""
    sessions = rated_sessions(iteration)
    won = winners(sessions)
    generator_of, generators_in = {}, defaultdict(set)
    for cid, cset, g in Candidate.objects.filter(candidate_set__iteration=iteration).values_list(
            "id", "candidate_set_id", "generator"):
        generator_of[cid] = g
        generators_in[cset].add(g)
    entered, wins = Counter(), Counter()
    for sid, cset in sessions.values_list("id", "candidate_set_id"):
        for g in generators_in[cset]:
            entered[g] += 1
        if sid in won:
            wins[generator_of.get(won[sid], "?")] += 1
    return sorted(({"generator": g, "sets": n, "wins": wins[g], "share": wins[g] / n} for g, n in entered.items()),
                  key=lambda r: (-r["share"], r["generator"]))


def rating_history(project, points=8):
    """Return the engine's Bradley–Terry ratings of generators and checkpoints refitted over time."""
    return ratings.rating_history(project, points)


def training_runs(project):
    """Return the project's checkpoints (and the shared ones) with a few metrics each."""
    rows = []
    for ckpt in (ModelCheckpoint.objects.filter(Q(project=project) | Q(project__isnull=True))
                 .select_related("iteration").order_by("created_at")):
        metrics = {k: v for k, v in (ckpt.metrics or {}).items() if isinstance(v, int | float)}
        rows.append({"name": ckpt.name, "stage": ckpt.stage, "status": ckpt.status,
                     "iteration": ckpt.iteration.number if ckpt.iteration else None, "created_at": ckpt.created_at,
                     "metrics": dict(sorted(metrics.items())[:6])})
    return rows


def category_distribution(project, iteration):
    """Return the curriculum's groups with, per category, the objects collected, accepted and failed in the iteration.

    Collected: objects with a candidate set in the iteration; accepted and failed: those whose set
    was rated at or above α, or below it. Beside them, against the targets: each category's share
    of the collected objects, the share of the claims the curriculum gives it now, and each
    group's training samples (all iterations) against its target.
    """
    counts = defaultdict(Counter)
    for category, status in (CandidateSet.objects.filter(iteration=iteration, object__image__project=project)
                             .values_list("object__category", "status")):
        counts[category]["collected"] += 1
        if status == SetStatus.ACCEPTED:
            counts[category]["accepted"] += 1
        elif status == SetStatus.FAILED:
            counts[category]["failed"] += 1
    total = sum(c["collected"] for c in counts.values())
    samples = priorities.samples_by_category(project)
    try:
        groups = priorities.groups(project)
        shares = priorities.shares(project, samples)
    except curriculum.CurriculumError as exc:
        return {"error": str(exc), "groups": [], "collected": total}

    def row(slug):
        c = counts.get(slug, Counter())
        return {"category": slug, "collected": c["collected"], "accepted": c["accepted"], "failed": c["failed"],
                "collected_share": c["collected"] / total if total else None, "target_share": shares.get(slug, 0.0),
                "samples": samples.get(slug, 0)}

    rows, grouped = [], set()
    for group, state in zip(groups, curriculum.progress(groups, samples), strict=True):
        grouped.update(group.categories)
        members = [row(slug) for slug in group.categories]
        rows.append({**state, "rows": [r for r in members if r["collected"] or r["samples"]],
                     "quiet": sum(1 for r in members if not (r["collected"] or r["samples"])), "target_share": sum(r["target_share"] for r in members),
                     "collected": sum(r["collected"] for r in members),
                     "accepted": sum(r["accepted"] for r in members), "failed": sum(r["failed"] for r in members)})
    # The long tail: categories in no group, with the floor as their share, listed when they have objects.
    tail = [row(slug) for slug in project.taxonomy if slug not in grouped]
    rows.append({"group": "no group (floor)", "categories": [r["category"] for r in tail], "target": None,
                 "samples": sum(r["samples"] for r in tail), "done": None,
                 "rows": [r for r in tail if r["collected"] or r["samples"]],
                 "quiet": sum(1 for r in tail if not (r["collected"] or r["samples"])),
                 "target_share": sum(r["target_share"] for r in tail), "collected": sum(r["collected"] for r in tail),
                 "accepted": sum(r["accepted"] for r in tail), "failed": sum(r["failed"] for r in tail)})
    for group in rows:
        group["collected_share"] = group["collected"] / total if total else None
        for r in (group, *group["rows"]):  # percentages, for the template
            r["collected_pct"] = None if r["collected_share"] is None else round(100 * r["collected_share"], 1)
            r["target_pct"] = round(100 * r["target_share"], 1)
    return {"groups": rows, "collected": total, "floor": project.curriculum_floor}


def report(project, iteration):
    """Return everything the dashboard shows for one iteration of a project."""
    if iteration is None:
        return None
    return {
        "objects": objects_by_status(project, iteration), "throughput": throughput(project, iteration),
        "annotators": per_annotator(project, iteration), "acceptance": acceptance(iteration),
        "artist_queue": artist_queue(project), "yield": generator_yield(iteration),
        "ratings": ratings.project_ratings(project),  # every iteration's comparisons, simulated included
        "training": training_runs(project), "categories": category_distribution(project, iteration),
        # Gold accuracy, overlap agreement and review flags of people, over the whole project.
        "quality": quality.report(project), "review": quality.review_list(project, limit=50),
    }

