"""Turning a selected object into a candidate set with the model suite.

`start` plans one job per generator and runs them as a Celery chord (a group of
`generate_candidates` tasks gathered by `finish_set`); without Redis the same tasks run
in-process, one after the other. Jobs are idempotent: candidate seeds are derived from
(set, generator), and a candidate is unique per (set, generator, seed), so a job retried
after a lost worker adds nothing twice.

A set that comes back short (a generator failed, or had fewer shapes than its share) is
topped up once: the generators that delivered their whole share are asked again for a larger
one. Generators return their first k results whatever n is, so the rerun stores only the tail.

Two retrieval generators can find the same library shape: the set keeps one copy (see
`drop_repeated_shapes`), and the lost places are topped up like any other shortfall.
"""

import hashlib
import json
import logging
import time
from collections import Counter, defaultdict
from functools import lru_cache, partial

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from engine.candidates.models import Candidate, CandidateSet, SetStatus
from engine.candidates.signals import set_closed
from engine.core import failpoints, transactions
from engine.intake import masks
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.intake.rendering import load_rgb

log = logging.getLogger("engine.candidates")
BROWSER_TRIANGLES = 10_000  # the triangle budget of a candidate's GLB (Stage 2 shows two at once)


def _deployed_checkpoints(project=None):
    """Return the deployed checkpoint folders: every one (no project), or those a project's suite samples from."""
    return []  # replaced by the flywheel's (provide_deployed_checkpoints), which deploys them


def provide_deployed_checkpoints(source):
    """Set source(project=None), which returns deployed checkpoint folders (the flywheel's AppConfig.ready())."""
    global _deployed_checkpoints
    _deployed_checkpoints = source


def suite_config():
    """Return the model-suite configuration of this deployment."""
    return {
        **settings.MODEL_SUITE,
        "library_dir": str(settings.SHAPE_LIBRARY_DIR),
        "flow_checkpoints": _deployed_checkpoints(),
        "external_url": settings.EXTERNAL_GENERATOR_URL or None,
    }


@lru_cache(maxsize=4)
def _suite(config_json):
    from model_suite.registry import build_suite

    return {g.name: g for g in build_suite(json.loads(config_json))}


def suite():
    """Return {name: generator} for the current deployment (cached per process and config)."""
    config = suite_config()
    return _suite(json.dumps(config, sort_keys=True, default=str))


def generator_names():
    """Return the names a project's `generators` may list: this deployment's suite, and "flow_model" (every
    deployed checkpoint of ours)."""
    from model_suite.registry import FLOW_MODEL

    return set(suite()) | {FLOW_MODEL}


def of_project(project, generators):
    """Return {name: generator} less the flow-model generators of checkpoints other projects deployed.

    The suite holds every deployed checkpoint (one generator each); a project samples its own and
    the shared ones (engine.flywheel.deploy), so its annotators never rank another project's model.
    """
    from model_suite.flow_model import FlowModelGenerator

    foreign = set(_deployed_checkpoints()) - set(_deployed_checkpoints(project))
    return {name: g for name, g in generators.items()
            if not (isinstance(g, FlowModelGenerator) and g.checkpoint in foreign)}


def plan(project, generators, availability=None):
    """Split the project's N candidates over the available generators of the project: [(name, n, queue)]."""
    generators = of_project(project, generators)
    if availability is None:
        availability = {name: g.availability() for name, g in generators.items()}
    from model_suite.registry import selects

    wanted = [g for g in generators.values() if not project.generators or selects(project.generators, g)]
    usable = [g for g in wanted if availability[g.name].ok]
    if not usable:
        return []
    n = project.n_candidates
    shares = [n // len(usable) + (1 if i < n % len(usable) else 0) for i in range(len(usable))]
    return [(g.name, share, g.queue) for g, share in zip(usable, shares, strict=True) if share]


def job_seed(set_id, generator):
    """Return the base seed of a (set, generator) job: stable across retries."""
    digest = hashlib.sha256(f"{set_id}:{generator}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def prepare(object_id):
    """Open the object's candidate set for the current iteration; return (set, the jobs to launch).

    No jobs for a set already past generation. `engine.candidates.tasks.start` launches them.
    """
    obj = ObjectInstance.objects.select_related("image__project").get(pk=object_id)
    project = obj.image.project
    # A re-offered failure's set is opened by the flywheel's tail, with its own amplification; this one, the project's.
    cset, _ = CandidateSet.objects.get_or_create(object=obj, iteration=project.current_iteration(),
                                                 defaults={"best_of": project.best_of})
    if cset.status != SetStatus.GENERATING:
        return cset, []
    ObjectInstance.objects.filter(pk=obj.pk).update(status=ObjectStatus.GENERATING)
    generators = of_project(project, suite())
    availability = {name: g.availability() for name, g in generators.items()}
    jobs = plan(project, generators, availability)
    skipped = {name: a.reason for name, a in availability.items() if not a.ok}
    if skipped:
        CandidateSet.objects.filter(pk=cset.pk).update(
            generator_report={name: {"ok": False, "reason": reason} for name, reason in skipped.items()}
        )
    return cset, jobs


def generate(set_id, generator_name, n):
    """Run one generator for a set and store its candidates; return a report dict."""
    cset = CandidateSet.objects.select_related("object__image").get(pk=set_id)
    if cset.status != SetStatus.GENERATING:  # redelivered after its set closed: the set is in Stage 2 now
        return {"generator": generator_name, "ok": False, "reason": "the set is no longer generating", "count": 0,
                "asked": n}
    generator = suite().get(generator_name)
    if generator is None:  # the deployment changed between planning and running this job
        return {"generator": generator_name, "ok": False, "reason": "no longer in the model suite", "count": 0, "asked": n}
    obj = cset.object
    image = obj.image
    context = context_for(obj)
    context.best_of = cset.best_of
    started = time.perf_counter()
    base = job_seed(set_id, generator_name)
    try:
        results = generator.generate(load_rgb(image), masks.decode(obj.mask_rle), context, n, base)
    except Exception as exc:  # a failing generator must not sink the set; the report says why
        log.exception("generator %s failed on set %s", generator_name, set_id)
        return {"generator": generator_name, "ok": False, "reason": f"{type(exc).__name__}: {exc}", "count": 0, "asked": n}
    # One call returns up to n candidates; the i-th is keyed by seed base + i, so a retried
    # job (same base seed, deterministic generator) finds each one already stored.
    stored = sum(store(cset, mesh, base + i) for i, mesh in enumerate(results[:n]))
    failpoints.hit("candidates.generated", generator_name)  # the drills kill a worker here: stored, not yet acknowledged
    return {
        "generator": generator_name, "ok": True, "count": stored, "asked": n,
        "seconds": round(time.perf_counter() - started, 3),
    }


def context_for(obj):
    """Return the GenerationContext of an object (category, description, point cloud)."""
    from model_suite.base import GenerationContext

    image = obj.image
    cloud = None
    if image.point_cloud:
        with image.point_cloud.open("rb") as f:
            cloud = np.frombuffer(f.read(), dtype=np.float32).reshape(-1, 3)
    intrinsics = dict(image.intrinsics or {}, width=image.width, height=image.height) if image.intrinsics else None
    return GenerationContext(
        category=obj.category, description=obj.description, point_cloud=cloud, intrinsics=intrinsics,
        object_id=obj.pk, image_id=image.pk,
    )


def store(cset, mesh, seed):
    """Store one CandidateMesh as the candidate keyed (set, generator, seed); return 1 if new, else 0."""
    from model_suite.meshio import to_glb
    from model_suite.meshproc import simplify

    if Candidate.objects.filter(candidate_set=cset, generator=mesh.generator, seed=seed).exists():
        return 0
    vertices, faces = simplify(mesh.vertices, mesh.faces, BROWSER_TRIANGLES)
    glb = to_glb(vertices, faces, budget=BROWSER_TRIANGLES)
    checkpoint = None
    if mesh.checkpoint:
        checkpoints = Candidate._meta.get_field("checkpoint").related_model  # the flywheel's, by the model's FK
        # Two projects may deploy one folder (the same π_0): the candidate names the set's project's row.
        project_id = cset.object.image.project_id
        checkpoint = min(checkpoints.objects.filter(path=mesh.checkpoint), default=None,
                         key=lambda c: (c.project_id != project_id, c.project_id is not None, c.pk))
    candidate = Candidate(
        candidate_set=cset, generator=mesh.generator, generator_version=mesh.version, kind=mesh.kind,
        checkpoint=checkpoint, seed=seed, triangles=len(faces), size_bytes=len(glb),
        seconds=float(mesh.seconds), pose=mesh.pose, extra=_jsonable(mesh.extra),
    )
    # Stage 2 is blind: the file name, which the browser sees in the mesh URL, must not name the generator.
    opaque = hashlib.sha256(f"{cset.pk}:{mesh.generator}:{seed}".encode()).hexdigest()[:20]
    try:
        with transactions.atomic():
            # The file is written before the row and goes again if the row is not kept: a concurrent
            # retry stored it first, the save fails (a transient error: the job is retried and writes
            # the file anew), or a caller's transaction rolls back.
            candidate.mesh.save(f"{opaque}.glb", ContentFile(glb), save=False)
            transactions.on_rollback(partial(candidate.mesh.storage.delete, candidate.mesh.name))
            candidate.save()
    except IntegrityError:  # a concurrent retry stored it first
        return 0
    return 1


def finish(set_id, reports, top_up=True):
    """Close generation of a set: mark it ready and open its ranking tasks; return (status, top-up jobs).

    A short set is topped up once instead: the jobs come back, to launch after this commit
    (`engine.candidates.tasks.finish_set`), so the top-up's own finish sees the report.
    """
    with transaction.atomic():
        cset = CandidateSet.objects.select_for_update().select_related("object__image__project").get(pk=set_id)
        if cset.status != SetStatus.GENERATING:
            return cset.status, []
        report = dict(cset.generator_report)
        for row in reports or []:
            name = row["generator"]
            report[name] = {**report.get(name, {}), **{k: v for k, v in row.items() if k != "generator"}}
        for name, n in drop_repeated_shapes(cset).items():
            report[name] = {**report.get(name, {}), "repeated_shapes": report.get(name, {}).get("repeated_shapes", 0) + n}
        # Counted in the database: a job redelivered after a lost worker reports 0 new, not what it holds.
        held = dict(cset.candidates.values_list("generator").annotate(n=Count("id")))
        for name, row in report.items():
            if "asked" in row:
                row["count"] = held.get(name, 0)
        cset.generator_report = report
        short = cset.object.image.project.n_candidates - sum(held.values())
        jobs = top_up_jobs(report, short) if top_up else []
        if not jobs:
            return close(cset), []
        cset.save(update_fields=["generator_report"])
    return SetStatus.GENERATING, jobs


def drop_repeated_shapes(cset):
    """Delete the candidates of a locked set that repeat a library shape; return {generator: copies deleted}.

    Shown twice, a shape is compared with itself in Stage 2, and the preference pairs would
    record it as both chosen and rejected. The copy kept is the one whose proposed pose fits the
    mask best (`mask_iou`, what Stage 3 starts from), else the first stored. A deleted copy's
    generator counts it as not delivered, so it is not asked for more in the top-up.
    """
    copies = defaultdict(list)
    for candidate in cset.candidates.order_by("id"):
        shape = (candidate.extra or {}).get("shape_id")
        if shape:
            copies[shape].append(candidate)
    dropped = Counter()
    for same in copies.values():
        keep = max(same, key=lambda c: (c.extra.get("mask_iou", -1.0), -c.pk))
        for candidate in same:
            if candidate is not keep:
                name = candidate.mesh.name
                candidate.delete()
                # The file goes once the row is gone for good: had the transaction rolled back, it would still be used.
                transaction.on_commit(lambda name=name: Candidate.mesh.field.storage.delete(name))
                dropped[candidate.generator] += 1
    return dropped


def close(cset):
    """Mark a locked set ready, or failed when it has no candidate; routing opens its next work (signals.set_closed)."""
    if not cset.candidates.exists():
        # Nothing could be proposed: routing makes the object a hard case for the artists straight away.
        cset.status = SetStatus.FAILED
        cset.save(update_fields=["generator_report", "status"])
    else:
        cset.status = SetStatus.READY
        cset.ready_at = timezone.now()
        cset.save(update_fields=["generator_report", "status", "ready_at"])
    set_closed.send(CandidateSet, candidate_set=cset)
    return cset.status


def top_up_jobs(report, short):
    """Return [(generator, n, queue)] giving ``short`` more candidates to the generators that delivered in full.

    Each is asked for its delivered count plus its extra share, round-robin in report order; the
    extra is recorded in its report row as ``top_up``.
    """
    if short <= 0:
        return []
    generators = suite()
    full = [name for name, row in report.items()
            if row.get("ok") and row.get("asked", 0) > 0 and row.get("count", 0) >= row["asked"] and name in generators]
    extra = {}
    for i in range(short if full else 0):
        extra[full[i % len(full)]] = extra.get(full[i % len(full)], 0) + 1
    for name, more in extra.items():
        report[name]["top_up"] = more
    return [(name, report[name]["count"] + more, generators[name].queue) for name, more in extra.items()]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
