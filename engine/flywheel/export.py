"""Export of an iteration's training data for the trainer, as a self-contained folder.

    DIR/manifest.json   project, iteration, α_k, counts, created_at
    DIR/samples.jsonl   one D+ sample per line (r ≥ α_k)
    DIR/pairs.jsonl     one preference pair per line (`chosen`, `rejected`)
    DIR/negatives.jsonl one candidate of a failed set per line (its winner rated below α_k), for
                        sets no artist has answered yet: with an artist mesh they are pairs' rejected sides
    DIR/files/...       images, masks (8-bit PNG, 255 = object) and meshes, by relative path
    DIR/*.parquet       the same rows, when pyarrow is installed

Meshes are binary PLY (float32 positions, int32 triangles) in the object frame, normalised to
the unit cube centred at the origin: every standard reader (trimesh, Open3D, Blender, MeshLab)
loads them at their true coordinates. The engine stores meshes as quantized GLB for the browser
(KHR_mesh_quantization), which trimesh and Open3D read as raw integers; the export decodes
each one once with `model_suite.meshio.load_mesh` and writes the exact same vertices.
The manifest's `format` block says all of this for readers that come without this code.

A pair whose rejected side came from a non-model generator (retrieval, lifting, artist) has
`dpo_eligible: false`, so DPO can leave it out. Writes go to a temporary folder renamed at
the end, so a failed export leaves nothing half-written.
"""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.core.files.storage import default_storage
from django.utils import timezone

from engine.alignment.pose import matrix_from_quaternion
from engine.intake.rendering import mask_png
from engine.records.models import PreferencePair, TrainingSample
from model_suite.meshio import load_mesh, to_ply

# Bumped when a row's meaning or a file's format changes; readers refuse versions they do not know.
FORMAT_VERSION = 2
FORMAT = {
    "version": FORMAT_VERSION,
    "mesh": {"file": "ply", "encoding": "binary_little_endian", "positions": "float32", "faces": "int32 triangles",
             "frame": "object frame, normalised to the unit cube centred at the origin"},
    "pose": "p_cam = scale * R @ p_obj + t, OpenCV camera (x right, y down, z forward); R as a unit quaternion "
            "[w, x, y, z] and as a row-major 3x3 matrix",
    "mask": "8-bit PNG, 255 = object, the image's size",
}


class ExportError(ValueError):
    """An export that cannot be written, with the reason."""


def open_stored(storage_name, what):
    """Open a stored file for reading; a missing one is an ExportError naming the file and what it is."""
    try:
        return default_storage.open(storage_name, "rb")
    except FileNotFoundError:
        raise ExportError(
            f"The stored file {storage_name!r} ({what}) is missing from the media storage; restore it, or take "
            "its row out of the iteration, then export again."
        ) from None


class Files:
    """Copies stored files into the export once each and returns their relative paths."""

    def __init__(self, root):
        self.root = Path(root)
        self.done = {}

    def copy(self, storage_name, folder, what="a file"):
        if storage_name not in self.done:
            rel = f"files/{folder}/{storage_name.replace('/', '_')}"
            dest = self.root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open_stored(storage_name, what) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            self.done[storage_name] = rel
        return self.done[storage_name]

    def mesh(self, storage_name, what="a mesh"):
        """Write a stored mesh (any format the engine reads) as binary PLY once; return its relative path."""
        key = f"mesh:{storage_name}"
        if key not in self.done:
            stem = storage_name.replace("/", "_").rsplit(".", 1)[0]
            rel = f"files/meshes/{stem}.ply"
            dest = self.root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open_stored(storage_name, what) as src:
                vertices, faces = load_mesh(src.read())
            dest.write_bytes(to_ply(vertices, faces))
            self.done[key] = rel
        return self.done[key]

    def mask(self, obj):
        key = f"mask:{obj.pk}"
        if key not in self.done:
            rel = f"files/masks/{obj.pk}.png"
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_bytes(mask_png(obj))
            self.done[key] = rel
        return self.done[key]


def _image(files, image):
    return {"id": image.pk, "path": files.copy(image.file.name, "images", f"the file of image {image.pk}"),
            "width": image.width, "height": image.height, "source_dataset": image.source_dataset, "source_id": image.source_id}


def _mesh(files, storage_name, source, generator, checkpoint):
    return {"path": files.mesh(storage_name, f"the {source} mesh"), "source": source, "generator": generator,
            "checkpoint": checkpoint.path if checkpoint else None}


def sample_rows(iteration, files):
    """Yield the D+ rows of an iteration with r ≥ α_k, but not those whose pose waits for review (engine.quality)."""
    qs = (TrainingSample.objects.filter(iteration=iteration, rating__gte=iteration.alpha)
          .exclude(alignment__task__review_flags__status="open")
          .select_related("object__image", "checkpoint").order_by("id"))
    for s in qs:
        yield {
            "id": f"sample-{s.pk}", "iteration": iteration.number, "alpha": iteration.alpha, "object_id": s.object_id,
            "image": _image(files, s.object.image), "mask": {"path": files.mask(s.object)},
            "category": s.object.category, "description": s.object.description,
            "mesh": _mesh(files, s.mesh, s.source, s.generator, s.checkpoint),
            "pose": {"rotation_quaternion": s.rotation, "rotation_matrix": matrix_from_quaternion(s.rotation).tolist(),
                     "translation": s.translation, "scale": s.scale},
            "rating": s.rating,
        }


def pair_rows(iteration, files):
    """Yield the preference-pair rows of an iteration."""
    qs = (PreferencePair.objects.filter(iteration=iteration)
          .select_related("object__image", "chosen_candidate__checkpoint", "chosen_artist_mesh", "rejected__checkpoint")
          .order_by("id"))
    for p in qs:
        chosen = p.chosen_candidate
        chosen_file = chosen.mesh.name if chosen else p.chosen_artist_mesh.mesh.name
        yield {
            "id": f"pair-{p.pk}", "iteration": iteration.number, "object_id": p.object_id,
            "image": _image(files, p.object.image), "mask": {"path": files.mask(p.object)},
            "category": p.object.category,
            "chosen": {"mesh": _mesh(files, chosen_file, p.chosen_source, p.chosen_generator,
                                     chosen.checkpoint if chosen else None), "rating": p.rating},
            "rejected": {"mesh": _mesh(files, p.rejected.mesh.name, p.rejected_source, p.rejected_generator,
                                       p.rejected.checkpoint)},
            "rejected_is_model": p.rejected_is_model, "dpo_eligible": p.rejected_is_model,
        }


def negative_rows(iteration, files):
    """Yield the candidates of the iteration's failed sets that no preference pair holds yet.

    A set whose winner was rated below α_k has only bad candidates. Once an artist answers it,
    each becomes the rejected side of a pair against the artist's mesh; until then (or for
    good, in a project that does not route failures to artists) they are negatives alone.
    """
    from engine.candidates.models import Candidate, SetStatus
    from engine.ranking.models import RankingSession

    paired = PreferencePair.objects.filter(iteration=iteration).values("rejected_id")
    qs = (Candidate.objects.filter(candidate_set__iteration=iteration, candidate_set__status=SetStatus.FAILED)
          .exclude(id__in=paired).select_related("candidate_set__object__image", "checkpoint").order_by("id"))
    ratings = {}  # every failed set's ratings, in one query
    for set_id, rating in (RankingSession.objects
                           .filter(candidate_set__iteration=iteration, candidate_set__status=SetStatus.FAILED,
                                   rating__isnull=False)
                           .order_by("rated_at", "id").values_list("candidate_set_id", "rating")):
        ratings.setdefault(set_id, []).append(rating)
    for c in qs:
        cset = c.candidate_set
        obj = cset.object
        yield {
            "id": f"negative-{c.pk}", "iteration": iteration.number, "alpha": iteration.alpha, "object_id": obj.pk,
            "image": _image(files, obj.image), "mask": {"path": files.mask(obj)}, "category": obj.category,
            "mesh": _mesh(files, c.mesh.name, c.kind, c.generator, c.checkpoint),
            # Every rating of the set's winner (several with ranking overlap); the first routed it.
            "set_ratings": ratings.get(cset.pk, []),
        }


@contextmanager
def staged(out_dir, prefix=".export-"):
    """Yield a temporary folder beside out_dir that becomes out_dir when the block succeeds, and goes if it fails."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not empty; choose a new folder or empty it.")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    try:
        yield staging
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_rows(folder, name, rows, progress=None):
    """Write rows as folder/NAME.jsonl (and .parquet when pyarrow is installed); return them as a list."""
    written = []
    with open(Path(folder) / f"{name}.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
            written.append(row)
            if progress:
                progress(name)
    _parquet(Path(folder) / f"{name}.parquet", written)
    return written


def export_iteration(iteration, out_dir, progress=None):
    """Write the iteration's samples and pairs under out_dir; return the manifest."""
    with staged(out_dir) as staging:
        files = Files(staging)
        counts = {}
        for name, rows in (("samples", sample_rows(iteration, files)), ("pairs", pair_rows(iteration, files)),
                           ("negatives", negative_rows(iteration, files))):
            counts[name] = len(write_rows(staging, name, rows, progress))
        manifest = {
            "project": iteration.project.name, "iteration": iteration.number, "alpha": iteration.alpha,
            "created_at": timezone.now().isoformat(), "counts": counts, "format": FORMAT,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _parquet(path, rows):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # Parquet is optional; JSON Lines is the format of record
        return
    if rows:
        flat = [{k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()} for row in rows]
        pq.write_table(pa.Table.from_pylist(flat), path)
