"""Import a team's existing instance annotations (COCO) as Stage 1 proposals annotators confirm, fix or reject.

Everything is checked before anything is written, and then written in one transaction: an import
that fails leaves no object, image or task behind, and its answer lists every problem at once.

- Images are matched by the COCO `file_name` against the `source_id` of the project's images (what
  `ingest_images DIR` records: the path under DIR). With `images_dir`, a file not ingested yet is
  ingested from there (with the quality checks), and one already ingested is found by its bytes.
- Categories are mapped onto the project's taxonomy through its names and synonyms
  (engine.intake.taxonomy), or through an explicit `category_map` {COCO name: slug}. A name that
  maps onto nothing is reported, never guessed: the import is refused, or with `skip_unmapped`
  its annotations are left out and counted.
- Each proposal's key is a hash of its category and mask, unique per image: importing the same
  annotations again (or the same mask twice in one file) creates nothing new.
- Crowd regions (`iscrowd: 1`) are many objects under one mask, not an object: left out and counted.
"""

import hashlib
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError

from engine.core import transactions
from engine.core.errors import EngineError
from engine.intake import coco, masks
from engine.intake.models import Image, ObjectInstance, ObjectStatus
from engine.intake.taxonomy import resolve_category
from engine.leases.models import Stage, TaskStatus

MAX_ERRORS_LISTED = 50


class ImportRefused(EngineError):
    """An import that wrote nothing, with its report (`report["errors"]` says why)."""

    def __init__(self, report):
        errors = report["errors"]
        first = "; ".join(e["message"] for e in errors[:3])
        more = f" (and {report['error_count'] - 3} more)" if report["error_count"] > 3 else ""
        super().__init__(f"Nothing was imported: {report['error_count']} problem(s): {first}{more}.",
                         fields={"errors": [e["message"] for e in errors]})
        self.report = report


@dataclass
class _Proposal:
    annotation_id: int
    coco_image: int
    slug: str
    name: str
    mask_rle: dict
    area: int
    bbox: list
    multi_region: bool
    key: str
    description: str


def proposal_key(slug, mask_rle):
    """Return the import key of a proposal: sha256 of its category and its mask's RLE."""
    return hashlib.sha256(f"{slug}|{json.dumps(mask_rle, separators=(',', ':'))}".encode()).hexdigest()


def import_annotations(project, data, *, user=None, images_dir=None, dataset="", category_map=None,
                       skip_unmapped=False, dry_run=False):
    """Check a COCO file against the project, then create its proposals in one transaction; return the report.

    Raise ImportRefused (nothing written) when any annotation, image or category name is refused.
    `dry_run` checks and reports without writing.
    """
    report = {"dataset": "", "dry_run": dry_run, "annotations": 0, "imported": 0, "already_imported": 0,
              "duplicates_in_file": 0, "skipped_unmapped": {}, "skipped_crowd": 0, "skipped_images": [],
              "images": 0, "images_ingested": 0, "tasks_opened": 0, "category_mapping": {}, "errors": [],
              "error_count": 0}
    errors = []

    def refuse(code, message, **where):
        errors.append({"code": code, "message": message, **where})

    try:
        parsed = coco.read(data)
    except coco.CocoError as exc:
        refuse(exc.code, str(exc))
        _finish_errors(report, errors)
        raise ImportRefused(report) from None
    for problem in parsed.problems:
        refuse(problem.code, str(problem))
    report["dataset"] = dataset = (dataset or parsed.description or "coco")[:100]
    report["annotations"] = len(parsed.annotations)

    mapping, unmapped = _map_categories(project, parsed.categories, category_map or {}, refuse)
    report["category_mapping"] = {parsed.categories[cid]: slug for cid, slug in mapping.items()}
    used_images = {a.get("image_id") for a in parsed.annotations if a.get("image_id") in parsed.images}
    matched, to_ingest = _match_images(project, parsed.images, used_images, images_dir, refuse)
    report["images"] = len(used_images)

    proposals, unmapped_counts, seen = [], Counter(), {}
    for annotation in parsed.annotations:
        aid = annotation["id"]
        image_id, category_id = annotation.get("image_id"), annotation.get("category_id")
        if image_id not in parsed.images:
            refuse("unknown_image", f"Annotation {aid} names image id {image_id!r}, which is not in the file's 'images'.",
                   annotation=aid)
            continue
        if category_id not in parsed.categories:
            refuse("unknown_category", f"Annotation {aid} names category id {category_id!r}, which is not in the file's "
                   "'categories'.", annotation=aid)
            continue
        if annotation.get("iscrowd") in (1, True):
            report["skipped_crowd"] += 1
            continue
        if category_id in unmapped:
            unmapped_counts[parsed.categories[category_id]] += 1
            continue
        entry = parsed.images[image_id]
        try:
            mask = coco.segmentation_mask(annotation.get("segmentation"), entry["height"], entry["width"])
        except coco.CocoError as exc:
            refuse(exc.code, f"Annotation {aid} (image {image_id}, {entry['file_name']}): {exc}", annotation=aid,
                   image=image_id)
            continue
        rle = masks.encode(mask)
        slug = mapping[category_id]
        key = proposal_key(slug, rle)
        if (image_id, key) in seen:
            report["duplicates_in_file"] += 1
            continue
        seen[(image_id, key)] = aid
        description = annotation.get("description") if isinstance(annotation.get("description"), str) else ""
        proposals.append(_Proposal(
            annotation_id=aid, coco_image=image_id, slug=slug, name=parsed.categories[category_id], mask_rle=rle,
            area=int(mask.sum()), bbox=masks.bbox(mask), key=key, description=description.strip()[:2000],
            multi_region=len(masks.regions(mask, settings.ENGINE["MASK_MIN_REGION_FRACTION"])) > 1,
        ))
    for name, n in sorted(unmapped_counts.items()):
        if skip_unmapped:
            report["skipped_unmapped"][name] = n
        else:
            refuse("unmapped_category",
                   f"Category {name!r} ({n} annotation{'s' if n != 1 else ''}) maps onto no category of the project's "
                   f"taxonomy; map it explicitly ({name}=SLUG, see GET /api/categories/) or leave it out "
                   "(skip_unmapped).")
    _finish_errors(report, errors)
    if errors:
        raise ImportRefused(report)

    known = _already_imported(matched, proposals)
    report["already_imported"] = sum(1 for p in proposals if (p.coco_image, p.key) in known)
    fresh = [p for p in proposals if (p.coco_image, p.key) not in known]
    if dry_run:
        report["imported"] = len(fresh)
        report["images_ingested"] = len({p.coco_image for p in fresh} & set(to_ingest))
        return report
    try:
        with transactions.atomic():
            _write(project, user, dataset, parsed.images, matched, to_ingest, fresh, report)
    except IntegrityError:
        # object_imported_once: another import of the same annotations committed first.
        raise EngineError("Another import of these annotations ran at the same time and nothing of this one was "
                          "kept; run it again (what the other one imported is not imported twice).") from None
    return report


def _finish_errors(report, errors):
    report["error_count"] = len(errors)
    report["errors_by_code"] = dict(Counter(e["code"] for e in errors))
    report["errors"] = errors[:MAX_ERRORS_LISTED]


def _map_categories(project, categories, explicit, refuse):
    """Return ({COCO category id: slug}, {ids of unmapped categories}); refuse a wrong explicit mapping."""
    allowed = set(project.taxonomy)
    by_name = {str(k).strip().lower(): v for k, v in explicit.items()}
    names = {name.strip().lower() for name in categories.values()}
    for name, slug in by_name.items():
        if slug not in allowed:
            refuse("bad_category_map", f"The mapping {name}={slug} names {slug!r}, which is not in the project's "
                   "taxonomy (GET /api/categories/?project=ID).")
        if name not in names:
            refuse("bad_category_map", f"The mapping {name}={slug} names {name!r}, which is not a category of the file.")
    mapping, unmapped = {}, set()
    for cid, name in categories.items():
        slug = by_name.get(name.strip().lower()) or resolve_category(name, allowed=allowed)
        if slug in allowed:
            mapping[cid] = slug
        else:
            unmapped.add(cid)
    return mapping, unmapped


def _match_images(project, images, used, images_dir, refuse):
    """Return ({COCO image id: Image}, {COCO image id: file bytes to ingest}) for the images annotations use."""
    from PIL import Image as PILImage

    by_name = defaultdict(list)
    names = {images[i]["file_name"] for i in used}
    for image in Image.objects.filter(project=project, source_id__in=names):
        by_name[image.source_id].append(image)
    root = Path(images_dir).resolve() if images_dir else None
    matched, to_ingest = {}, {}
    for image_id in sorted(used):
        entry = images[image_id]
        name, found = entry["file_name"], by_name.get(entry["file_name"], [])
        data = None
        if root is not None:
            path = (root / name).resolve()
            if root not in path.parents:
                refuse("unknown_image_file", f"Image {image_id}: file_name {name!r} points outside {root}.", image=image_id)
                continue
            if path.is_file():
                data = path.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                found = list(Image.objects.filter(project=project, sha256=digest)) or found
        if len(found) > 1:
            datasets = ", ".join(sorted({i.source_dataset or "?" for i in found}))
            refuse("ambiguous_image", f"Image {image_id}: {len(found)} images of the project are named {name!r} "
                   f"(datasets {datasets}); pass the images folder so they are told apart by their bytes.",
                   image=image_id)
            continue
        if found:
            size = (found[0].width, found[0].height)
        elif data is not None:
            try:
                with PILImage.open(io.BytesIO(data)) as probe:
                    size = probe.size
            except Exception as exc:  # Pillow raises many kinds for a file that is no image  # noqa: BLE001
                refuse("unreadable_image", f"Image {image_id}: {name} is not an image Pillow can read ({exc}).",
                       image=image_id)
                continue
            to_ingest[image_id] = data
        else:
            where = f" nor under {root}" if root else "; ingest it first (manage.py ingest_images) or pass the images folder"
            refuse("unknown_image_file", f"Image {image_id}: no image of the project is named {name!r}{where}.",
                   image=image_id)
            continue
        if size != (entry["width"], entry["height"]):
            refuse("size_mismatch", f"Image {image_id} ({name}) is {entry['width']}x{entry['height']} in the file but "
                   f"{size[0]}x{size[1]} in the project: the masks would not fit it.", image=image_id)
            continue
        if found:
            matched[image_id] = found[0]
    return matched, to_ingest


def _already_imported(matched, proposals):
    """Return {(COCO image id, key)} of the proposals an earlier import created."""
    image_of = {image.pk: cid for cid, image in matched.items()}
    keys = {p.key for p in proposals if p.coco_image in matched}
    rows = ObjectInstance.objects.filter(image__in=list(matched.values()), import_key__in=keys)
    return {(image_of[i], k) for i, k in rows.values_list("image_id", "import_key")}


def _write(project, user, dataset, images, matched, to_ingest, proposals, report):
    from engine.intake.services import ingest, open_selection_task

    wanted = {p.coco_image for p in proposals}
    for image_id, data in to_ingest.items():
        if image_id not in wanted:
            continue
        image, created = ingest(project, data, images[image_id]["file_name"], source_dataset=dataset,
                                source_id=images[image_id]["file_name"], user=user)
        matched[image_id] = image
        report["images_ingested"] += int(created)
    usable = {}
    for image_id in sorted(wanted):
        image = matched[image_id]
        if not image.quality_ok:
            report["skipped_images"].append({"image": image_id, "file_name": images[image_id]["file_name"],
                                             "reason": image.quality_reason})
            continue
        usable[image_id] = image
    rows = [ObjectInstance(
        image=usable[p.coco_image], mask_rle=p.mask_rle, area=p.area, bbox=p.bbox, multi_region=p.multi_region,
        category=p.slug, description=p.description, status=ObjectStatus.PROPOSED, import_key=p.key,
        source=f"{dataset}#{p.annotation_id} ({p.name})"[:300],
    ) for p in proposals if p.coco_image in usable]
    ObjectInstance.objects.bulk_create(rows)
    report["imported"] = len(rows)
    # The proposals are reviewed in Stage 1: an image whose Stage 1 task is done gets a new one.
    reviewed = {image.pk for image in usable.values()}
    waiting = set(Image.objects.filter(pk__in=reviewed, tasks__stage=Stage.SELECT,
                                       tasks__status__in=[TaskStatus.OPEN, TaskStatus.LEASED])
                  .values_list("pk", flat=True))
    for image in usable.values():
        if image.pk not in waiting and any(r.image_id == image.pk for r in rows):
            open_selection_task(project, image)
            report["tasks_opened"] += 1
