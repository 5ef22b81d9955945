"""The quality figures of a project, per person: accuracy on gold, agreement on overlap copies, review flags.

Only people count: the members of the `simulated` group (engine.simulation) are left out of every
figure here, as of the dashboard's other human statistics. Their gold copies are still scored.
"""

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from engine.core.roles import SIMULATED_GROUP
from engine.leases.models import Task, TaskStatus
from engine.quality import registry
from engine.quality.models import FlagStatus, GoldCopy, GoldStandard, ReviewFlag


def human_users():
    """Return the users who are people: everyone but the members of the `simulated` group."""
    return get_user_model().objects.exclude(groups__name=SIMULATED_GROUP)


def _share(part, whole):
    return round(part / whole, 4) if whole else None


def per_annotator(project):
    """Return one row per person with work in the project: tasks done, gold accuracy by stage, agreement, flags."""
    humans = human_users()
    rows = defaultdict(lambda: {"tasks": 0, "gold": {}, "gold_answered": 0, "gold_passed": 0, "overlap_pairs": 0,
                                "same_winner": 0, "same_decision": 0, "flags": 0, "flags_open": 0,
                                "flags_rejected": 0})
    names = {}
    done = (Task.objects.filter(project=project, status=TaskStatus.DONE, completed_by__in=humans, gold_copy__isnull=True)
            .values("completed_by", "completed_by__username").annotate(n=Count("id")))
    for r in done:
        names[r["completed_by"]] = r["completed_by__username"]
        rows[r["completed_by"]]["tasks"] += r["n"]
    gold = (GoldCopy.objects.filter(task__project=project, passed__isnull=False, answered_by__in=humans)
            .values("answered_by", "answered_by__username", "task__stage")
            .annotate(n=Count("id"), passed=Count("id", filter=Q(passed=True))))
    for r in gold:
        names[r["answered_by"]] = r["answered_by__username"]
        row = rows[r["answered_by"]]
        row["gold"][r["task__stage"]] = {"answered": r["n"], "passed": r["passed"],
                                         "accuracy": _share(r["passed"], r["n"])}
        row["gold_answered"] += r["n"]
        row["gold_passed"] += r["passed"]
    flags = (ReviewFlag.objects.filter(project=project, user__in=humans)
             .values("user", "user__username", "status").annotate(n=Count("id")))
    for r in flags:
        names[r["user"]] = r["user__username"]
        row = rows[r["user"]]
        row["flags"] += r["n"]
        row["flags_open"] += r["n"] if r["status"] == FlagStatus.OPEN else 0
        row["flags_rejected"] += r["n"] if r["status"] == FlagStatus.REJECTED else 0
    for spec in registry.specs():
        if spec.agreement is None:
            continue
        for user, figures in spec.agreement(project, humans).items():
            row = rows[user]
            for key in ("same_winner", "same_decision"):
                row[key] += figures[key]
            row["overlap_pairs"] += figures["pairs"]
    missing = set(rows) - set(names)
    names.update(get_user_model().objects.filter(pk__in=missing).values_list("pk", "username"))
    out = []
    for user, row in rows.items():
        out.append({"user": names.get(user, "?"), "user_id": user, **row,
                    "gold_accuracy": _share(row["gold_passed"], row["gold_answered"]),
                    "winner_agreement": _share(row["same_winner"], row["overlap_pairs"]),
                    "decision_agreement": _share(row["same_decision"], row["overlap_pairs"])})
    return sorted(out, key=lambda r: (-r["tasks"], r["user"]))


def report(project):
    """Return the project's quality figures: per person, and the totals the dashboard shows."""
    people = per_annotator(project)
    answered = sum(r["gold_answered"] for r in people)
    passed = sum(r["gold_passed"] for r in people)
    pairs = sum(r["overlap_pairs"] for r in people) // 2  # each pair counts for both of its annotators
    same = sum(r["same_winner"] for r in people) // 2
    return {
        "project": project.pk, "gold_rate": project.gold_rate, "overlap_rate": project.overlap_rate,
        "gold_standards": dict(GoldStandard.objects.filter(project=project, active=True)
                               .values_list("stage").annotate(n=Count("id")).values_list("stage", "n")),
        "gold_copies_served": GoldCopy.objects.filter(task__project=project).count(),
        "gold_answered_by_people": answered, "gold_accuracy": _share(passed, answered),
        "overlap_pairs": pairs, "winner_agreement": _share(same, pairs),
        "flags_open": ReviewFlag.objects.filter(project=project, status=FlagStatus.OPEN).count(),
        "annotators": people,
    }


def flag_json(flag):
    """Return a review flag as the review list shows it: who, what, why, and what was submitted."""
    task = flag.task
    return {"id": flag.pk, "task": task.pk, "stage": flag.stage, "user": flag.user.username if flag.user else None,
            "reasons": flag.reasons, "detail": flag.detail, "status": flag.status, "created_at": flag.created_at,
            "object": task.object_id, "image": task.image_id, "submitted": task.submit_response,
            "seconds_spent": task.seconds_spent, "outcome": flag.outcome, "note": flag.note,
            "reviewed_by": flag.reviewed_by.username if flag.reviewed_by else None, "reviewed_at": flag.reviewed_at}


def review_list(project, status=FlagStatus.OPEN, limit=200):
    """Return the project's review flags of a status ("all" for every one), oldest first."""
    flags = ReviewFlag.objects.filter(project=project).select_related("task", "user", "reviewed_by")
    if status != "all":
        flags = flags.filter(status=status)
    return [flag_json(f) for f in flags.order_by("id")[:limit]]
