"""Validation of artist uploads: format from content, limits, finite non-empty geometry."""

import hashlib
import logging
import re
from dataclasses import dataclass

import numpy as np

from model_suite import meshio
from model_suite.meshproc import MeshError, normalize

logger = logging.getLogger(__name__)

BROWSER_TRIANGLES = 50_000  # the preview GLB; the original upload is kept at full resolution


class UploadRejected(ValueError):
    """An upload refused, with a reason an artist can act on."""


@dataclass(frozen=True)
class CheckedMesh:
    format: str
    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    sha256: str
    size_bytes: int


def safe_name(name, fmt):
    """Return a storage name with no directory part and the sniffed extension."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name).replace("\\", "/").split("/")[-1]).strip("._") or "mesh"
    stem = stem.rsplit(".", 1)[0][:80] or "mesh"
    return f"{stem}.{fmt}"


# The model suite's loader reads the format from the content; its error codes, in artists' words.
REASONS = {
    "unknown_format": "Unrecognised file content: upload a GLB, OBJ, PLY or STL mesh.",
    "unreadable": "The file could not be read as a mesh",
    "empty": "The file has no triangles.",
    "non_finite": "The mesh has non-finite (NaN or infinite) vertex coordinates.",
    "bad_index": "The mesh has faces that point at missing vertices.",
    "too_large": "The mesh has too many triangles; decimate it.",
}
ACCEPTED = ("glb", "obj", "ply", "stl")


def check(data, *, max_bytes, max_triangles):
    """Parse and check an uploaded mesh; return a CheckedMesh or raise UploadRejected."""
    size = len(data)
    if size == 0:
        raise UploadRejected("The file is empty.")
    if size > max_bytes:
        raise UploadRejected(f"The file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB.")
    try:
        fmt = meshio.sniff_format(data)
        if fmt not in ACCEPTED:
            raise MeshError("unknown_format", fmt)
        vertices, faces = meshio.load_mesh(data)
    except MeshError as exc:
        reason = REASONS.get(exc.code, "The mesh was refused")
        detail = str(exc).split(": ", 1)[-1]
        raise UploadRejected(reason if exc.code in ("unknown_format", "empty") else f"{reason} ({detail}).") from None
    except Exception as exc:  # noqa: BLE001 - a loader bug on hostile input must still be the artist's 400, not a 500
        logger.warning("mesh loader raised %s on a %d-byte upload", type(exc).__name__, size, exc_info=True)
        raise UploadRejected(f"{REASONS['unreadable']} ({type(exc).__name__}: {str(exc)[:200]}).") from None
    if len(faces) > max_triangles:
        raise UploadRejected(f"The mesh has {len(faces):,} triangles; the limit is {max_triangles:,}. Decimate it.")
    extent = np.ptp(vertices[faces.ravel()], axis=0)
    if (extent <= 0).sum() >= 2:
        raise UploadRejected("The mesh is degenerate: it has no extent in two of three axes.")
    return CheckedMesh(fmt, vertices.astype(np.float64), faces.astype(np.int64), hashlib.sha256(data).hexdigest(), size)


def normalized_glb(vertices, faces):
    """Return a binary glTF of the mesh centred at the origin and scaled into the unit cube."""
    _, centre, scale = normalize(vertices[np.unique(faces)])  # stray unreferenced vertices do not count
    return meshio.to_glb((vertices - centre) / scale, faces, budget=BROWSER_TRIANGLES)
