"""Render-paste composites with hidden truth: a known shape, posed upright, shaded onto a real photograph.

The camera is the trainer's (trainer/data/render.py): OpenCV pinhole, focal = image side in
pixels, principal point at the centre, p_cam = s R p_obj + t. That is also the convention of
Stage 3, so the true pose is an answer the alignment API accepts as it is. The depth map is
the renderer's own (ray hit times); the photograph behind has no depth, so its pixels are NaN
and the point cloud holds the object's visible surface only.
"""

from __future__ import annotations

import io
import logging
import secrets
from dataclasses import dataclass

import numpy as np
import trimesh
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image as PILImage
from scipy.spatial.transform import Rotation

from engine.intake import masks
from engine.intake.services import ingest
from engine.simulation.models import SimulatedTruth

log = logging.getLogger("engine.simulation")

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")  # colour photographs in skimage.data
CAMERA_FROM_UPRIGHT = np.diag([1.0, -1.0, -1.0])  # object (y up, z towards the viewer) -> camera (y down, z forward)
MIN_AREA_FRACTION = 0.02  # of the image: smaller objects are redrawn (the brief: big enough to see)


@dataclass(frozen=True)
class TrueShape:
    """A mesh in the unit cube, y up, with what an annotator would call it."""

    vertices: np.ndarray  # (V, 3) float
    faces: np.ndarray  # (F, 3) int
    category: str
    caption: str
    shape_id: str


@dataclass(frozen=True)
class Composite:
    """One rendered image and the truth behind it."""

    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) bool, visible pixels of the object
    depth: np.ndarray  # (H, W) float32 metres, NaN off the object
    intrinsics: dict  # fx, fy, cx, cy in pixels
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)
    scale: float
    shape: TrueShape


def procedural_shapes(count, seed=0, categories=None):
    """Return `count` shapes of the procedural generator, cycling the categories (all of them by default)."""
    from model_suite.procedural import CATEGORIES, make_shape

    categories = tuple(categories or CATEGORIES)
    shapes = []
    for i in range(count):
        category = categories[i % len(categories)]
        mesh, _, caption = make_shape(category, seed, i)
        shapes.append(TrueShape(np.asarray(mesh.vertices, float), np.asarray(mesh.faces), category, caption,
                                f"procedural:{category}:{seed}:{i}"))
    return shapes


def library_shapes(library_dir, categories=None):
    """Return the shapes of a model-suite library whose category is one of `categories` (any named one by default)."""
    from model_suite.library import Library

    library = Library(library_dir)
    shapes = []
    for entry in library.entries:
        if not entry.category or (categories is not None and entry.category not in categories):
            continue
        vertices, faces = library.mesh(entry.id)
        shapes.append(TrueShape(np.asarray(vertices, float), np.asarray(faces), entry.category, entry.caption,
                                entry.id))
    return shapes


def load_photos():
    """Return {name: (H, W, 3) uint8} of the photographs composites are pasted onto."""
    from skimage import data

    photos = {}
    for name in PHOTOS:
        photo = getattr(data, name)()
        photo = photo[0] if isinstance(photo, tuple) else photo  # stereo_motorcycle: (left, right, disparity)
        photos[name] = np.ascontiguousarray(photo[..., :3]).astype(np.uint8)
    return photos


def intrinsics(size):
    """Return the pinhole intrinsics of a square image of `size` pixels (the trainer's camera)."""
    from trainer.data.render import FOCAL

    f = FOCAL * size
    return {"fx": f, "fy": f, "cx": size / 2, "cy": size / 2}


def upright_pose(rng, size, closer=0.0):
    """Draw (R, t, s): any turn about the up axis, seen from 10–35° above, a little roll, near the centre.

    `closer` in [0, 1) brings the object nearer the camera, for slender shapes that came out too small.
    """
    yaw = rng.uniform(0, 2 * np.pi)
    pitch = np.radians(rng.uniform(10, 35))  # the top of the object tilts towards the camera
    roll = np.radians(rng.normal(0, 3))
    R = (Rotation.from_euler("xz", [pitch, roll]).as_matrix() @ CAMERA_FROM_UPRIGHT
         @ Rotation.from_euler("y", yaw).as_matrix())
    z = rng.uniform(2.0, 2.8) * (1 - 0.5 * closer)
    u, v = rng.uniform(-0.12, 0.12, size=2)  # projected offset from the centre, in image sides
    f = intrinsics(size)["fx"] / size
    t = np.array([u * z / f, v * z / f, z])
    return R, t, float(rng.uniform(0.85, 1.15))


def background(photo, size, rng):
    """Return a random square crop of a photograph resized to (size, size, 3)."""
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = PILImage.fromarray(photo[y:y + side, x:x + side]).resize((size, size), PILImage.Resampling.BILINEAR)
    return np.asarray(crop)


def cast(shape, R, t, s, size):
    """Cast one ray per pixel at the posed shape; return (hit (H, W) bool, depth (H, W), normals, ray directions)."""
    import open3d as o3d

    K = intrinsics(size)
    mesh = o3d.t.geometry.TriangleMesh()
    mesh.vertex.positions = o3d.core.Tensor(np.ascontiguousarray(s * shape.vertices @ R.T + t, dtype=np.float32))
    mesh.triangle.indices = o3d.core.Tensor(np.ascontiguousarray(shape.faces, dtype=np.int32))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(mesh)
    matrix = np.array([[K["fx"], 0, K["cx"]], [0, K["fy"], K["cy"]], [0, 0, 1]])
    rays = scene.create_rays_pinhole(o3d.core.Tensor(matrix), o3d.core.Tensor(np.eye(4)), size, size)
    hits = scene.cast_rays(rays)
    t_hit = hits["t_hit"].numpy()
    directions = rays.numpy()[..., 3:]
    hit = np.isfinite(t_hit)
    depth = np.where(hit, t_hit * directions[..., 2], np.nan).astype(np.float32)  # z of origin + t_hit * direction
    return hit, depth, hits["primitive_normals"].numpy(), directions


def render(shape, photos, rng, size=320, tries=30):
    """Return a Composite of `shape` on one of `photos`, redrawing the pose until the object is whole and big enough."""
    from trainer.data.render import shade

    for attempt in range(tries):
        R, t, s = upright_pose(rng, size, closer=attempt / tries)
        hit, depth, normals, directions = cast(shape, R, t, s, size)
        edge = hit[0].any() or hit[-1].any() or hit[:, 0].any() or hit[:, -1].any()
        if edge or hit.mean() < MIN_AREA_FRACTION:
            continue
        photo = photos[int(rng.integers(len(photos)))]
        albedo = rng.uniform(0.3, 1.0, size=3)
        image = shade(np.where(hit, 0, -1), normals, directions, background(photo, size, rng), [albedo], rng)
        return Composite(image, hit, depth, intrinsics(size), R, t, s, shape)
    raise ValueError(f"could not place {shape.shape_id} whole and covering {MIN_AREA_FRACTION:.0%} of a "
                     f"{size}x{size} image in {tries} poses; give a larger size")


def png_bytes(image):
    buffer = io.BytesIO()
    PILImage.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def ply_bytes(shape):
    return trimesh.Trimesh(shape.vertices, shape.faces, process=False).export(file_type="ply")


def store(project, composite, seed, name, user=None):
    """Ingest a composite into the project and record its truth; return the SimulatedTruth (None if not kept).

    An image that fails the intake quality checks gets no Stage 1 task: it is dropped, truth and all.
    """
    with transaction.atomic():
        image, created = ingest(project, png_bytes(composite.image), name, source_dataset="simulation", source_id=name,
                                user=user, depth=composite.depth, intrinsics=composite.intrinsics)
        if not created:  # the same bytes again (same seed): the first truth stands
            return SimulatedTruth.objects.filter(image=image).first()
        if not image.quality_ok:
            log.warning("composite %s failed intake (%s); dropped", name, image.quality_reason)
            transaction.set_rollback(True)
            return None
        shape = composite.shape
        truth = SimulatedTruth(
            image=image, category=shape.category, caption=shape.caption[:300], mask_rle=masks.encode(composite.mask),
            shape_id=shape.shape_id, rotation=np.asarray(composite.rotation).tolist(),
            translation=np.asarray(composite.translation).tolist(), scale=float(composite.scale), seed=seed,
        )
        # An unguessable name: the truth storage is not served, and its names should not be derivable either.
        truth.mesh.save(f"{secrets.token_hex(12)}.ply", ContentFile(ply_bytes(shape)), save=False)
        truth.save()
    return truth


def seed_composites(project, count, *, seed=0, size=320, library_dir=None, categories=None, user=None):
    """Render `count` composites into `project` and return their SimulatedTruth rows.

    Shapes come from the procedural generator (seeded by `seed`), or from the shape library at
    `library_dir` when given (so retrieval can find the very shape). Procedural shape i of seed s
    is the one `model_suite.procedural.generate_shapes(seed=s)` writes when the categories are
    the same: to keep the truth out of a library grown that way, seed with another s. Only
    categories of the project's taxonomy are drawn. Composite i depends only on (seed, i):
    seeding again adds nothing.
    """
    allowed = [c for c in (categories or project.taxonomy) if c in set(project.taxonomy)]
    if library_dir:
        shapes = library_shapes(library_dir, set(allowed))
    else:
        from model_suite.procedural import CATEGORIES

        shapes = procedural_shapes(count, seed, [c for c in allowed if c in CATEGORIES] or None)
    shapes = [s for s in shapes if s.category in allowed]
    if not shapes:
        raise ValueError(f"No shape of the project's categories ({', '.join(allowed)}) to render; "
                         "widen the project's taxonomy or give a library with those categories.")
    photos = list(load_photos().values())
    truths = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        shape = shapes[i % len(shapes)] if not library_dir else shapes[int(rng.integers(len(shapes)))]
        try:
            composite = render(shape, photos, rng, size)
        except ValueError as exc:  # a shape that will not fit the frame is left out, not the whole seeding
            log.warning("composite %s-%s: %s", seed, i, exc)
            continue
        truth = store(project, composite, seed, f"composite-{seed}-{i}.png", user)
        if truth is not None:
            truths.append(truth)
    return truths
