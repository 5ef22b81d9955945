"""Open3D CPU raycasting: render posed meshes to image + per-object masks; voxelise occupancy.

Camera: OpenCV pinhole, identity extrinsics (the world is the camera frame), focal f * size
pixels, principal point at the image centre. A mesh is placed by p_cam = s R p_obj + t.
"""
from __future__ import annotations

import numpy as np
import open3d as o3d
import trimesh

FOCAL = 1.0  # focal length in units of the image side (a ~53 degree field of view)


def intrinsics(size: int) -> np.ndarray:
    """(3, 3) pinhole intrinsics for a square image of `size` pixels."""
    return np.array([[FOCAL * size, 0, size / 2], [0, FOCAL * size, size / 2], [0, 0, 1]], dtype=np.float64)


def _o3d_mesh(vertices: np.ndarray, faces: np.ndarray) -> o3d.t.geometry.TriangleMesh:
    m = o3d.t.geometry.TriangleMesh()
    m.vertex.positions = o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32))
    m.triangle.indices = o3d.core.Tensor(np.ascontiguousarray(faces, dtype=np.int32))
    return m


def raycast(meshes: list[trimesh.Trimesh], poses: list[tuple[np.ndarray, np.ndarray, float]], size: int):
    """Cast one ray per pixel; return (geometry id (H,W) int, -1 = miss; normals (H,W,3); ray dirs (H,W,3))."""
    scene = o3d.t.geometry.RaycastingScene()
    for mesh, (R, t, s) in zip(meshes, poses):
        scene.add_triangles(_o3d_mesh(s * mesh.vertices @ np.asarray(R).T + t, mesh.faces))
    rays = scene.create_rays_pinhole(o3d.core.Tensor(intrinsics(size)), o3d.core.Tensor(np.eye(4)), size, size)
    ans = scene.cast_rays(rays)
    hit = np.isfinite(ans["t_hit"].numpy())
    gid = np.where(hit, ans["geometry_ids"].numpy().astype(np.int64), -1)
    return gid, ans["primitive_normals"].numpy(), rays.numpy()[..., 3:]


def shade(gid: np.ndarray, normals: np.ndarray, dirs: np.ndarray, background: np.ndarray,
          albedos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Lambertian shading with a random light from the camera side plus ambient; returns (H,W,3) uint8."""
    light = rng.normal(size=3)
    light[2] = -abs(light[2]) - 0.5            # from the camera's side of the scene (towards -z)
    light /= np.linalg.norm(light)
    n = normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-9)
    n = np.where(((n * dirs).sum(-1) > 0)[..., None], -n, n)   # face the camera
    ambient = rng.uniform(0.25, 0.45)
    lambert = np.clip((n * -light).sum(-1), 0, 1)
    img = background.astype(np.float32).copy()
    for i, albedo in enumerate(albedos):
        sel = gid == i
        img[sel] = 255 * albedo * (ambient + (1 - ambient) * lambert[sel, None])
    return np.clip(img, 0, 255).astype(np.uint8)


def voxelize(mesh: trimesh.Trimesh, grid: int, surface_points: int = 20000, seed: int = 0) -> np.ndarray:
    """(G, G, G) bool occupancy of a unit-cube mesh: inside (Open3D, 3-ray vote) OR touched by the surface.

    Voxel (i, j, k) covers x in [-0.5 + i/G, -0.5 + (i+1)/G), etc. (index order x, y, z).
    The surface term keeps thin, open parts (non-watertight scans) in the grid.
    """
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(_o3d_mesh(mesh.vertices, mesh.faces))
    c = (np.arange(grid) + 0.5) / grid - 0.5
    pts = np.stack(np.meshgrid(c, c, c, indexing="ij"), -1).reshape(-1, 3).astype(np.float32)
    inside = scene.compute_occupancy(o3d.core.Tensor(pts), nsamples=3).numpy().reshape(grid, grid, grid) > 0
    surf, _ = trimesh.sample.sample_surface(mesh, surface_points, seed=seed)
    idx = np.clip(np.floor((surf + 0.5) * grid).astype(int), 0, grid - 1)
    inside[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    return inside
