"""Which Stage 2 failures go to artists: a share of them, and one or a few per cluster of look-alikes.

A failure (a set rated below α) is described by three blocks of features (model_suite/features.py):
the object's image region, the shape of the winning candidate, and the sentence embedding of its
category and description. The distance of two failures is the weighted mean of the blocks' cosine
distances, d = Σ_b w_b (1 − ⟨a_b, c_b⟩) ∈ [0, 2].

Clustering is online ("leader" clustering): a failure within the project's artist_cluster_distance
of a cluster's first member joins the nearest such cluster, else it starts a cluster of its own.
Artists get a failure while fewer than artist_share of the project's failures went to them, and
while its cluster has fewer than artist_representatives with an artist; when the share has room
and the failure starts a new cluster, a larger cluster still without an artist goes first (its
oldest failure). The rest of a cluster is linked to it: when the engineer allows it
(artist_mesh_serves_cluster), the artist's mesh then goes to Stage 3 for each linked look-alike
(services.serve_lookalikes). A failure over the share stays failed, for the flywheel to re-offer
(engine/flywheel/tail.py). Failure categories stay interleaved in the artists' queue by
open_artist_case's balance_key, as without clustering.

Failures of a project are triaged one at a time (a lock on the project's row), inside the rating's
transaction; the features are computed before the lock.
"""

import math

import numpy as np
from django.db.models import Count, Q

from engine.artists.models import (
    ArtistCase,
    Failure,
    FailureCategory,
    FailureCluster,
    FailureOutcome,
)
from engine.artists.services import open_artist_case
from engine.core.models import Project
from engine.intake import masks
from engine.intake.models import ObjectStatus
from engine.leases.models import Stage

TEXT_DIM = 384
WEIGHTS = {"image": 1 / 3, "shape": 1 / 3, "text": 1 / 3}


def _blocks():
    from model_suite.features import IMAGE_DIM, SHAPE_DIM

    return (("image", IMAGE_DIM), ("shape", SHAPE_DIM), ("text", TEXT_DIM))


def failure_features(obj, candidate):
    """Return the float32 features of a failure: the object's image region, the candidate's shape, the text."""
    from PIL import Image as PILImage

    from model_suite import embeddings
    from model_suite.features import SHAPE_DIM, image_features, shape_features
    from model_suite.meshio import load_mesh

    with obj.image.file.open("rb") as f:
        rgb = np.asarray(PILImage.open(f).convert("RGB"))
    mask = masks.decode(obj.mask_rle, (rgb.shape[1], rgb.shape[0]))
    image = image_features(rgb, mask)
    shape = np.zeros(SHAPE_DIM, np.float32)
    if candidate is not None:
        with candidate.mesh.open("rb") as f:
            shape = shape_features(*load_mesh(f.read()))
    try:
        text = embeddings.embed([f"{obj.category}. {obj.description}".strip()])[0]
    except LookupError:  # the offline sentence model is not installed: the text block says nothing
        text = np.zeros(TEXT_DIM, np.float32)
    return np.concatenate([image, shape, text]).astype(np.float32)


def distance(a, b):
    """Return the weighted blockwise cosine distance of two feature vectors (a block of zeros counts as 1)."""
    total, start = 0.0, 0
    for name, size in _blocks():
        total += WEIGHTS[name] * (1.0 - float(a[start:start + size] @ b[start:start + size]))
        start += size
    return total


def _vector(raw):
    return np.frombuffer(bytes(raw), np.float32)


def nearest(project, features):
    """Return (cluster, distance) of the project's cluster whose first member is nearest, or (None, inf)."""
    best, best_d = None, math.inf
    for cluster in FailureCluster.objects.filter(project=project).only("id", "features"):
        d = distance(features, _vector(cluster.features))
        if d < best_d:
            best, best_d = cluster, d
    return best, best_d


def _room(project):
    """Return True while fewer than artist_share of the project's failures (counting the new one) went to artists."""
    total = Failure.objects.filter(project=project).count() + 1
    sent = Failure.objects.filter(project=project, outcome=FailureOutcome.ARTIST).count()
    return sent < math.ceil(project.artist_share * total - 1e-9)


def _waiting_leader(project):
    """Return the oldest still-failed member of the largest cluster of two or more with no artist yet, or None."""
    waiting = (FailureCluster.objects.filter(project=project)
               .annotate(size=Count("failures"), sent=Count("failures", filter=Q(failures__outcome__in=[
                   FailureOutcome.ARTIST, FailureOutcome.SERVED])))
               .filter(sent=0, size__gte=2).order_by("-size", "id"))
    for cluster in waiting[:20]:
        leader = (cluster.failures.filter(outcome=FailureOutcome.HELD, object__status=ObjectStatus.FAILED,
                                          case__isnull=True).select_related("object", "candidate_set")
                  .order_by("id").first())
        if leader is not None:
            return leader
    return None


def _send(project, failure):
    task = open_artist_case(project, failure.object, failure.candidate_set, best_candidate=failure.best_candidate,
                            failure_category=failure.failure_category, rating=failure.rating)
    failure.case = task.artist_case
    failure.outcome = FailureOutcome.ARTIST
    return task


def _stay_failed(obj):
    obj.status = ObjectStatus.FAILED
    obj.save(update_fields=["status"])


def route_failure(project, obj, cset, *, best_candidate, failure_category, rating):
    """Record a failure, decide whether an artist gets it, open the case if so; return routing's summary."""
    category = failure_category or FailureCategory.OTHER
    clustering = project.artist_cluster_distance > 0
    features = failure_features(obj, best_candidate) if clustering else None
    list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk"))  # one triage at a time
    failure = Failure(project=project, candidate_set=cset, object=obj, best_candidate=best_candidate,
                      failure_category=category, rating=rating,
                      features=features.tobytes() if features is not None else b"")
    cluster, d = nearest(project, features) if clustering else (None, math.inf)
    joined = cluster is not None and d < project.artist_cluster_distance
    room = _room(project)
    outcome = {"routed_to": None}
    if joined:
        failure.cluster, failure.distance = cluster, d
        sent = cluster.failures.filter(outcome=FailureOutcome.ARTIST).count()
        if room and sent < project.artist_representatives:
            task = _send(project, failure)
            outcome.update(routed_to=Stage.ARTIST.value, task_created=task.pk, failure_category=category)
        elif sent:
            failure.outcome = FailureOutcome.LINKED
            _stay_failed(obj)
            outcome["reason"] = f"a look-alike (cluster {cluster.pk}) is with an artist; linked to it"
        else:
            failure.outcome = FailureOutcome.HELD
            _stay_failed(obj)
            outcome["reason"] = "over the project's artist share; it stays failed for the flywheel to re-offer"
    else:
        if clustering:
            failure.cluster = FailureCluster.objects.create(project=project, features=features.tobytes())
        waiting = _waiting_leader(project) if room and clustering else None
        if room and waiting is None:
            task = _send(project, failure)
            outcome.update(routed_to=Stage.ARTIST.value, task_created=task.pk, failure_category=category)
        else:
            failure.outcome = FailureOutcome.HELD
            _stay_failed(obj)
            outcome["reason"] = "over the project's artist share; it stays failed for the flywheel to re-offer"
            if waiting is not None:  # the share's room goes to a larger cluster of look-alikes still without an artist
                task = _send(project, waiting)
                waiting.save(update_fields=["case", "outcome"])
                outcome["reason"] = (f"a larger cluster of look-alikes (cluster {waiting.cluster_id}) went to an "
                                     "artist first; this one stays failed for the flywheel to re-offer")
    failure.save()
    if failure.cluster_id:
        outcome["cluster"] = failure.cluster_id
    return outcome


def summary(project):
    """Return what triage did with the project's failures: counts by outcome and category, cluster sizes."""
    failures = Failure.objects.filter(project=project)
    by_outcome = dict(failures.values_list("outcome").annotate(n=Count("id")).values_list("outcome", "n"))
    by_category = {}
    for category, outcome, n in failures.values_list("failure_category", "outcome").annotate(n=Count("id")):
        by_category.setdefault(category, {})[outcome] = n
    sizes = sorted((n for n in FailureCluster.objects.filter(project=project)
                    .annotate(n=Count("failures")).values_list("n", flat=True)), reverse=True)
    cases = ArtistCase.objects.filter(task__project=project)
    return {"project": project.pk, "artist_share": project.artist_share,
            "artist_cluster_distance": project.artist_cluster_distance,
            "artist_representatives": project.artist_representatives,
            "failures": failures.count(), "clusters": len(sizes), "cluster_sizes": sizes[:20],
            "artist_tasks": cases.count(), "by_outcome": by_outcome, "by_category": by_category,
            "artist_tasks_by_category": dict(cases.values_list("failure_category").annotate(n=Count("id"))
                                             .values_list("failure_category", "n"))}


def recluster(project, thresholds, share=None, representatives=None):
    """Return, per threshold, how the project's recorded failures would cluster and how many artist tasks follow.

    Offline and read-only: the stored features of each failure, in the order they came, through the
    same leader rule; for choosing artist_cluster_distance on a real set of failures.
    """
    share = project.artist_share if share is None else share
    representatives = project.artist_representatives if representatives is None else representatives
    rows = [(f.pk, _vector(f.features)) for f in Failure.objects.filter(project=project).exclude(features=b"")
            .only("id", "features").order_by("id")]
    out = []
    for threshold in thresholds:
        leaders, members, sent = [], [], 0
        for i, (_, v) in enumerate(rows):
            d = [distance(v, leaders[k]) for k in range(len(leaders))]
            k = int(np.argmin(d)) if d else -1
            if k < 0 or d[k] >= threshold:
                leaders.append(v)
                members.append(0)
                k = len(leaders) - 1
            members[k] += 1
            if members[k] <= representatives and sent < math.ceil(share * (i + 1) - 1e-9):
                sent += 1
        out.append({"threshold": threshold, "failures": len(rows), "clusters": len(leaders),
                    "largest": sorted(members, reverse=True)[:5], "artist_tasks": sent})
    return out
