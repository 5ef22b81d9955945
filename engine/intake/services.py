"""Ingesting images and recording the objects annotators select in them (Stage 1)."""

import hashlib
import io
from functools import partial

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from engine.core import transactions
from engine.core.errors import EngineError, ErrorCode
from engine.intake import masks, quality
from engine.intake.point_maps import attach_depth, parse_depth  # noqa: F401  (callers import them from here too)
from engine.intake.models import FLAG_REASONS, Image, ObjectInstance, ObjectStatus
from engine.intake.signals import objects_selected
from engine.intake.taxonomy import resolve_category
from engine.leases import services as leases
from engine.leases.models import Stage

MAX_IMAGE_PIXELS = 64_000_000


def open_selection_task(project, image):
    """Open the Stage 1 task of an image that passed the quality checks; return it (the one place it is made)."""
    return leases.create(project, Stage.SELECT, image=image)


def ingest(project, data, name, *, source_dataset="", source_id="", user=None, depth=None, intrinsics=None):
    """Store an image with its quality checks and open its Stage 1 task; return (image, created).

    The same bytes ingested twice into a project return the first image, even when both arrive at once.
    """
    digest = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, sha256=digest).first()
    if existing:
        return existing, False
    try:
        with PILImage.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_IMAGE_PIXELS:
                raise EngineError(f"The image is {probe.width}x{probe.height}; the limit is {MAX_IMAGE_PIXELS:,} pixels.",
                                  fields={"file": ["too many pixels"]})
            width, height = probe.size
            gray = np.asarray(probe.convert("L"), dtype=np.float64)
    except PILImage.DecompressionBombError as exc:
        # Pillow refuses an image of over twice its own pixel limit at open, before the check above runs.
        raise EngineError(f"The image is too large to open ({exc}); the limit is {MAX_IMAGE_PIXELS:,} pixels.",
                          fields={"file": ["too many pixels"]}) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:  # Pillow's plugins raise all of these
        raise EngineError("The file is not an image Pillow can read (PNG, JPEG, ...).", fields={"file": [str(exc)]}) from None
    limits = settings.ENGINE
    verdict = quality.assess(gray, limits["MIN_IMAGE_SIDE"], limits["MIN_BLUR_VARIANCE"], limits["MIN_CONTRAST"])
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name.rsplit("/", 1)[-1])[:100] or "image"
    image = Image(
        project=project, sha256=digest, width=width, height=height, source_dataset=source_dataset, source_id=source_id or safe,
        quality_ok=verdict.ok, quality_reason=verdict.reason, blur_variance=verdict.blur_variance,
        contrast=verdict.contrast, ingested_by=user,
    )
    inserted = False
    try:
        # A savepoint in a caller's transaction, which goes on after a lost race.
        with transactions.atomic():
            # The file is written before the row and goes again if the rows are not kept: the row, the
            # depth or the Stage 1 task fails, the same bytes were ingested at the same moment
            # (image_unique_per_project), or a caller's transaction rolls back.
            image.file.save(f"{digest[:12]}-{safe}", ContentFile(data), save=False)
            transactions.on_rollback(partial(image.file.storage.delete, image.file.name))
            image.save()
            inserted = True
            if depth is not None:
                attach_depth(image, depth, intrinsics)
            elif verdict.ok:
                # Stage 3 aligns against a point cloud: one from the monocular estimator, when there is one.
                request_point_map(image)
            if verdict.ok:
                open_selection_task(project, image)
    except IntegrityError:
        # The same bytes were ingested at the same moment, after the lookup above, and the other row
        # won: this insert waited for its commit, then failed on image_unique_per_project. Return the
        # other image, as a later repeat gets it; this block's file went with its rolled-back rows.
        # (Under Read Committed, PostgreSQL's default, this read sees that commit.)
        first = None if inserted else Image.objects.filter(project=project, sha256=digest).first()
        if first is None:
            raise
        return first, False
    return image, True


def add_object(task_id, user, mask_rle, category, description="", confirm_multi_region=False, seconds=0.0):
    """Record an object selected in the image of a held Stage 1 task."""
    with transaction.atomic():
        task = leases.hold(task_id, user)
        if task.stage != Stage.SELECT:
            raise EngineError(f"Task {task.pk} is a {task.stage} task, not a selection task.", code=ErrorCode.WRONG_STAGE)
        image = task.image
        slug = resolve_category(category, allowed=set(task.project.taxonomy))
        if slug is None:
            raise EngineError(
                f"Unknown category {category!r}; pick one of the project's taxonomy (GET /api/categories/).",
                fields={"category": ["not in the project's taxonomy"]},
            )
        try:
            mask = masks.decode(mask_rle, (image.width, image.height))  # size checked before decoding
            masks.validate(mask, (image.width, image.height), settings.ENGINE["MASK_MIN_REGION_FRACTION"],
                           confirm_multi_region, settings.ENGINE["MASK_MAX_FRACTION"])
        except masks.MaskError as exc:
            raise EngineError(str(exc), fields={"mask": [str(exc)]}) from None
        return ObjectInstance.objects.create(
            image=image, mask_rle=masks.encode(mask), area=int(mask.sum()), bbox=masks.bbox(mask),
            multi_region=len(masks.regions(mask, settings.ENGINE["MASK_MIN_REGION_FRACTION"])) > 1,
            category=slug, description=description.strip(), selected_by=user, seconds_spent=float(seconds or 0.0),
        )


def review_object(task_id, object_id, user, decision, *, mask_rle=None, category=None, description=None,
                  confirm_multi_region=False, seconds=0.0):
    """Confirm (with fixes: a new mask, category or description) or reject an imported proposal of a held Stage 1 task.

    A confirmed proposal is a selected object like a drawn one; `edited` records that its mask or
    category was changed. Repeating the decision already taken changes nothing.
    """
    if decision not in ("confirm", "reject"):
        raise EngineError(f"Unknown decision {decision!r}; 'confirm' or 'reject'.", fields={"decision": ["confirm or reject"]})
    with transaction.atomic():
        task = leases.hold(task_id, user)
        if task.stage != Stage.SELECT:
            raise EngineError(f"Task {task.pk} is a {task.stage} task, not a selection task.", code=ErrorCode.WRONG_STAGE)
        obj = ObjectInstance.objects.select_for_update().filter(pk=object_id, image_id=task.image_id).first()
        if obj is None:
            raise EngineError(f"Object {object_id} is not in the image of task {task.pk}.", code=ErrorCode.NOT_FOUND,
                              status_code=404)
        done = {"confirm": ObjectStatus.SELECTED, "reject": ObjectStatus.REJECTED}[decision]
        if obj.status == done and obj.import_key:
            return obj  # a repeat of the same decision
        if obj.status != ObjectStatus.PROPOSED:
            raise EngineError(f"Object {obj.pk} is {obj.get_status_display()}, not a proposal waiting for review.",
                              fields={"object": ["not a proposal"]})
        fields = ["status", "selected_by", "seconds_spent"]
        if decision == "confirm":
            if category is not None and category != obj.category:
                slug = resolve_category(category, allowed=set(task.project.taxonomy))
                if slug is None:
                    raise EngineError(f"Unknown category {category!r}; pick one of the project's taxonomy "
                                      "(GET /api/categories/).", fields={"category": ["not in the project's taxonomy"]})
                obj.edited |= slug != obj.category
                obj.category = slug
                fields += ["category", "edited"]
            if mask_rle is not None and mask_rle != obj.mask_rle:
                image = task.image
                min_fraction = settings.ENGINE["MASK_MIN_REGION_FRACTION"]
                try:
                    mask = masks.decode(mask_rle, (image.width, image.height))
                    masks.validate(mask, (image.width, image.height), min_fraction, confirm_multi_region)
                except masks.MaskError as exc:
                    raise EngineError(str(exc), fields={"mask": [str(exc)]}) from None
                obj.mask_rle, obj.area, obj.bbox = masks.encode(mask), int(mask.sum()), masks.bbox(mask)
                obj.multi_region = len(masks.regions(mask, min_fraction)) > 1
                obj.edited = True
                fields += ["mask_rle", "area", "bbox", "multi_region", "edited"]
            if description is not None:
                obj.description = description.strip()
                fields.append("description")
        obj.status = done
        obj.selected_by = user
        obj.seconds_spent = float(seconds or 0.0)
        obj.save(update_fields=sorted(set(fields)))
        return obj


def finish_image(task_id, user, seconds=0.0, key=""):
    """Complete a Stage 1 task and send its new objects on (signals.objects_selected: candidate generation).

    Refused while imported proposals of the image wait for review: each is confirmed, fixed or rejected first.
    """
    with transaction.atomic():
        task = leases.hold(task_id, user)
        if task.stage != Stage.SELECT:
            raise EngineError(f"Task {task.pk} is a {task.stage} task, not a selection task.", code=ErrorCode.WRONG_STAGE)
        waiting = list(task.image.instances.filter(status=ObjectStatus.PROPOSED).values_list("id", flat=True))
        if waiting:
            raise EngineError(
                f"{len(waiting)} imported object(s) of this image wait for review ({', '.join(map(str, waiting))}): "
                "confirm, fix or reject each before finishing the image.", fields={"objects": waiting})
        new = list(task.image.instances.filter(status=ObjectStatus.SELECTED).values_list("id", flat=True))
        # Generating from now: the page shows it, and a restarted embedded server sends it again (candidates' on_start).
        ObjectInstance.objects.filter(pk__in=new).update(status=ObjectStatus.GENERATING)
        body = {"task": task.pk, "objects": new}
        leases.complete(task, user, key=key, response=body, seconds=seconds)
        # The answer does not wait for the candidates: a Celery worker makes them, or without Redis a
        # background thread of this server (engine/core/background.py), once this transaction commits.
        objects_selected.send(Image, object_ids=new)
    return body


def flag_image(task_id, user, reason, note="", seconds=0.0, key=""):
    """Close a Stage 1 task whose image should not be annotated: the image is marked failed, with why.

    Objects already selected in it and not yet sent on are dropped with it; objects sent to
    generation before are left alone (they were accepted on their own).
    """
    if reason not in FLAG_REASONS:
        raise EngineError(f"Unknown reason {reason!r}; one of {', '.join(FLAG_REASONS)}.",
                          fields={"reason": [f"one of {', '.join(FLAG_REASONS)}"]})
    note = (note or "").strip()
    if reason == "other" and not note:
        raise EngineError("Say why in a note when the reason is 'other'.", fields={"note": ["required for 'other'"]})
    with transaction.atomic():
        task = leases.hold(task_id, user)
        if task.stage != Stage.SELECT:
            raise EngineError(f"Task {task.pk} is a {task.stage} task, not a selection task.", code=ErrorCode.WRONG_STAGE)
        image = task.image
        dropped, _ = image.instances.filter(status=ObjectStatus.SELECTED).delete()
        # Imported proposals are kept, rejected with the image, so that importing them again adds nothing.
        rejected = image.instances.filter(status=ObjectStatus.PROPOSED).update(status=ObjectStatus.REJECTED)
        image.quality_ok = False
        why = f"flagged by {user.get_username()}: {FLAG_REASONS[reason]}" + (f" ({note})" if note else "")
        image.quality_reason = why[:300]
        image.save(update_fields=["quality_ok", "quality_reason"])
        body = {"task": task.pk, "image": image.pk, "flagged": reason, "objects_dropped": dropped,
                "proposals_rejected": rejected}
        leases.complete(task, user, key=key, response=body, seconds=seconds)
    return body


def request_point_map(image):
    """Queue the point map of an image without depth once the caller's transaction commits; return what happens.

    Returns "queued:NAME" for the registered monocular estimator NAME (a Celery job on its queue,
    engine.intake.tasks.estimate_point_map), or "none": without an estimator the image has no point cloud.
    """
    from engine.intake import point_maps
    from engine.intake.tasks import estimate_point_map

    if image.depth:
        return image.depth_source or "upload"
    found = point_maps.estimator()
    if found is None:
        return "none"
    name, queue = found
    transaction.on_commit(lambda: estimate_point_map.apply_async((image.pk,), queue=queue), robust=True)
    return f"queued:{name}"
