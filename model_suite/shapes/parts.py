"""Primitive parts the procedural generator assembles (built z-up, metres-ish, then normalized)."""

from __future__ import annotations

import numpy as np
import trimesh

SECTIONS = 32  # segments around round parts: smooth enough at 10k triangles, cheap to union


def box(extents, centre=(0, 0, 0)) -> trimesh.Trimesh:
    """Return an axis-aligned box of ``extents`` centred at ``centre``."""
    return trimesh.creation.box(extents=extents).apply_translation(centre)


def rod(radius: float, start, end, sections: int = SECTIONS) -> trimesh.Trimesh:
    """Return a cylinder of ``radius`` from point ``start`` to point ``end``."""
    return trimesh.creation.cylinder(radius=radius, segment=np.array([start, end], float), sections=sections)


def disk(radius: float, thickness: float, centre=(0, 0, 0)) -> trimesh.Trimesh:
    """Return a z-axis cylinder of ``radius`` and ``thickness`` centred at ``centre``."""
    return trimesh.creation.cylinder(radius=radius, height=thickness, sections=SECTIONS).apply_translation(centre)


def lathe(profile, sections: int = SECTIONS) -> trimesh.Trimesh:
    """Revolve a (radius, z) polyline about the z axis; endpoints on the axis give a closed solid."""
    return trimesh.creation.revolve(np.asarray(profile, float), sections=sections)


def hollow_profile(outer, wall: float, base: float) -> np.ndarray:
    """Turn an outer (radius, z) silhouette, z increasing, into a closed cup profile with ``wall`` and ``base`` thickness."""
    outer = np.asarray(outer, float)
    inner = outer.copy()
    inner[:, 0] = np.maximum(inner[:, 0] - wall, wall * 0.5)
    inner[0, 1] = max(inner[0, 1], base)  # the floor of the cavity sits ``base`` above the bottom
    inner = inner[np.concatenate([[True], inner[1:, 1] > inner[0, 1]])]
    return np.vstack([[0, outer[0, 1]], outer, inner[::-1], [0, inner[0, 1]]])


def ring_profile(outer, wall: float) -> np.ndarray:
    """Turn an outer (radius, z) silhouette into a closed loop ``wall`` thick, open at both ends (a lampshade)."""
    outer = np.asarray(outer, float)
    inner = outer[::-1].copy()
    inner[:, 0] -= wall
    return np.vstack([outer, inner, outer[:1]])


def torus_handle(major: float, minor: float, centre, sections: int = 24) -> trimesh.Trimesh:
    """Return a torus standing in the x-z plane (a mug handle) centred at ``centre``."""
    t = trimesh.creation.torus(major_radius=major, minor_radius=minor, major_sections=sections, minor_sections=12)
    t.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    return t.apply_translation(centre)


def ellipsoid(radii, centre=(0, 0, 0), subdivisions: int = 3) -> trimesh.Trimesh:
    """Return an axis-aligned ellipsoid with semi-axes ``radii``."""
    s = trimesh.creation.icosphere(subdivisions=subdivisions)
    s.apply_scale(np.asarray(radii, float))
    return s.apply_translation(centre)


def union(parts: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    """Return the watertight boolean union of overlapping parts (manifold3d)."""
    return trimesh.boolean.union(parts, engine="manifold")


def difference(a: trimesh.Trimesh, b: trimesh.Trimesh) -> trimesh.Trimesh:
    """Return ``a`` minus ``b`` (manifold3d)."""
    return trimesh.boolean.difference([a, b], engine="manifold")


Z_UP_TO_Y_UP = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # z -> y, y -> -z
