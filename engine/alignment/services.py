"""Stage 3 rules: open an alignment task, accept a pose and turn the aligned mesh into a training sample."""

from django.db import transaction
from django.utils import timezone

from engine.alignment import pose, tasks
from engine.alignment.models import Alignment
from engine.core import rows
from engine.core.errors import EngineError, ErrorCode
from engine.core.roles import is_simulated
from engine.intake import priorities
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage
from engine.quality import rules as quality_rules
from engine.quality import services as quality
from engine.quality.models import FlagReason
from engine.records.models import TrainingSample

# What a submit reads besides the task: the iteration (via the set), the mesh it turns into a sample,
# what the pose served was made from (image, candidate), the project's review bar and a gold copy's mark.
SUBMIT_RELATED = ("candidate_set", "alignment__candidate", "alignment__artist_mesh", "image", "project", "gold_copy")


def open_alignment_task(project, obj, cset, *, rating, candidate=None, artist_mesh=None):
    """Open the Stage 3 task of an object: align `candidate` (a Stage 2 winner) or `artist_mesh`; return the task.

    The one place alignment work is made; call it inside the transaction that decided it.
    """
    # The curriculum orders the queue: the object's category gets its share of the claims.
    priority = priorities.priority_for(project, Stage.ALIGN, obj.category)
    task = _open(project, obj, cset, candidate, artist_mesh, rating, priority)
    obj.status = ObjectStatus.ALIGNING
    obj.save(update_fields=["status"])
    gold = quality.due_gold(project, Stage.ALIGN)
    if gold is not None:  # served like any other task; its pose is scored against the known one
        copy = _open(project, gold.object, gold.candidate_set, gold.candidate, gold.artist_mesh,
                     float(gold.answer.get("rating", 1.0)),
                     priorities.priority_for(project, Stage.ALIGN, gold.object.category))
        quality.record_copy(copy, gold)
    return task


def _open(project, obj, cset, candidate, artist_mesh, rating, priority):
    task = leases.create(project, Stage.ALIGN, image=obj.image, object=obj, candidate_set=cset, priority=priority)
    alignment = Alignment.objects.create(task=task, candidate=candidate, artist_mesh=artist_mesh, rating=rating)
    tasks.request(alignment)  # the starting pose is fitted once this commits, in the background
    return task


def open_for_artist_mesh(sender, *, project, obj, candidate_set, mesh, **kwargs):
    """Receiver of engine.artists.signals.mesh_submitted: an artist's accepted mesh goes on to Stage 3."""
    return open_alignment_task(project, obj, candidate_set, artist_mesh=mesh, rating=1.0)


def submit(task_id, user, rotation, translation, scale, seconds=0.0, key="", served=None):
    """Store the pose of a held alignment task and create its TrainingSample D+.

    `served(alignment, image)` returns the pose the task's page started from (alignment.api's
    initial_pose): a pose submitted unchanged from it is flagged for review. A gold copy's pose is
    scored against the known pose and makes no sample.
    """
    parsed, errors = [], {}
    for parse, value in ((pose.parse_rotation, rotation), (pose.parse_translation, translation),
                         (pose.parse_scale, scale)):
        try:
            parsed.append(parse(value))
        except pose.PoseError as exc:  # report every bad field at once
            errors[exc.field] = [exc.reason]
    if errors:
        raise EngineError("Invalid pose: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), fields=errors)
    quaternion, t, s = parsed
    with transaction.atomic():
        task = leases.hold(task_id, user, related=SUBMIT_RELATED)
        if task.stage != Stage.ALIGN:
            raise EngineError(f"Task {task.pk} is a {task.stage} task, not an alignment task.", code=ErrorCode.WRONG_STAGE)
        alignment = task.alignment
        alignment.rotation = [float(v) for v in quaternion]
        alignment.translation = [float(v) for v in t]
        alignment.scale = s
        alignment.seconds = float(seconds or 0.0)
        alignment.aligned_by = user
        alignment.aligned_at = timezone.now()
        candidate = alignment.candidate
        copy = quality.copy_of(task)
        if copy is not None:
            quality.score(copy, user, quality_rules.pose_result(copy.gold.answer, quaternion, t, s))
            body = {"task": task.pk, "sample": None, "rotation": alignment.rotation,
                    "translation": alignment.translation, "scale": s}
            rows.update_all([
                (alignment, ["rotation", "translation", "scale", "seconds", "aligned_by", "aligned_at"]),
                leases.completed(task, user, key=key, response=body, seconds=seconds),
            ])
            return body
        review = pose_review(task, user, alignment, served)
        # The hot path of the claim benchmark: compile-once writes (rows), the three updates in one statement.
        sample = rows.insert(TrainingSample(
            object_id=task.object_id, iteration_id=task.candidate_set.iteration_id, alignment=alignment,
            mesh=alignment.mesh_file.name,
            source=candidate.kind if candidate else "artist",
            generator=candidate.generator if candidate else "artist",
            checkpoint_id=candidate.checkpoint_id if candidate else None,
            rotation=alignment.rotation, translation=alignment.translation, scale=s, rating=alignment.rating,
        ))
        body = {"task": task.pk, "sample": sample.pk, "rotation": alignment.rotation,
                "translation": alignment.translation, "scale": s}
        if review:
            quality.flag(task, user, review["reasons"], review["figures"])
            body["review"] = {"flagged": True, "reasons": review["reasons"], "detail": review["detail"]}
        rows.update_all([
            (alignment, ["rotation", "translation", "scale", "seconds", "aligned_by", "aligned_at"]),
            (ObjectInstance(pk=task.object_id, status=ObjectStatus.DONE), ["status"]),
            leases.completed(task, user, key=key, response=body, seconds=seconds),
        ])
    return body


def pose_review(task, user, alignment, served=None):
    """Return why a Stage 3 submit needs review ({reasons, figures, detail}), or None.

    Flagged: a pose submitted within project.review_min_align_seconds of the claim (by the server's
    clock), or the pose the page was served, unchanged. Simulated annotators are not checked.
    """
    bar = task.project.review_min_align_seconds
    if bar <= 0 or is_simulated(user):
        return None
    reasons, figures, said = [], {}, []
    elapsed = (timezone.now() - task.claimed_at).total_seconds() if task.claimed_at else None
    if elapsed is not None and elapsed < bar:
        reasons.append(FlagReason.TOO_FAST.value)
        figures.update(seconds=round(elapsed, 3), min_seconds=bar)
        said.append(f"submitted {elapsed:.2f} s after the claim (a person needs {bar:g} s or more)")
    start = served(alignment, task.image) if served is not None else None
    if start is not None:
        pose_now = {"rotation": alignment.rotation, "translation": alignment.translation, "scale": alignment.scale}
        start_pose = {"rotation": start["rotation"]["quaternion"], "translation": start["translation"],
                      "scale": start["scale"]}
        if quality_rules.same_pose(pose_now, start_pose):
            reasons.append(FlagReason.UNCHANGED_POSE.value)
            said.append("the pose is the one the page started from")
    if not reasons:
        return None
    said = "; ".join(said)
    return {"reasons": reasons, "figures": figures,
            "detail": said[0].upper() + said[1:] + ". An engineer reviews it before it reaches an export."}
