"""Mesh files in and out: a content-sniffed loader and a compact binary glTF writer for the browser."""

from __future__ import annotations

import io
import json
import os
import struct

import numpy as np
import trimesh

from .meshproc import DEFAULT_BUDGET, MeshError, simplify, validate, vertex_normals

FORMATS = ("glb", "obj", "ply", "stl", "off")


def sniff_format(data: bytes) -> str:
    """Return the mesh format of ``data`` judged by its content, never by a file name."""
    head = data[:512]
    if head[:4] == b"glTF":
        return "glb"
    if head[:3] == b"ply":
        return "ply"
    stripped = head.lstrip()
    if stripped[:3] == b"OFF" or stripped[:4] in (b"COFF", b"NOFF"):
        return "off"
    # Binary STL has no magic; its size is exactly 84 + 50 * count (and it may still start with "solid").
    if len(data) >= 84:
        (count,) = struct.unpack("<I", data[80:84])
        if 84 + 50 * count == len(data):
            return "stl"
    if stripped[:5].lower() == b"solid" and b"facet" in data[:4096]:
        return "stl"
    text = data[:4096].decode("latin-1")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any(ln.startswith(("v ", "f ", "vn ", "vt ", "o ", "g ", "mtllib ")) for ln in lines):
        return "obj"
    raise MeshError("unknown_format", f"content starts with {head[:16]!r}; expected one of {', '.join(FORMATS)}")


def load_mesh(source: str | os.PathLike | bytes) -> tuple[np.ndarray, np.ndarray]:
    """Load a mesh from a path or bytes into (V float32 (V, 3), F int32 (F, 3)), all parts of a scene merged."""
    data = source if isinstance(source, (bytes, bytearray)) else open(source, "rb").read()
    data = bytes(data)
    fmt = sniff_format(data)
    if fmt == "glb" and _needs_own_reader(data):
        return _read_our_glb(data)
    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=fmt, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for malformed files
        raise MeshError("unreadable", f"{fmt} parser failed: {exc}") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise MeshError("empty", f"the {fmt} file holds no triangles")
    v = np.asarray(loaded.vertices, np.float32)
    f = np.asarray(loaded.faces, np.int32)
    validate(v, f)
    return v, f


def _pad4(b: bytes, fill: bytes = b"\x00") -> bytes:
    return b + fill * (-len(b) % 4)


def to_glb(vertices: np.ndarray, faces: np.ndarray, budget: int = DEFAULT_BUDGET) -> bytes:
    """Return a binary glTF of the mesh, simplified to ``budget`` triangles, with vertex normals.

    Positions are int16 and normals int8 (KHR_mesh_quantization, read natively by three.js
    GLTFLoader); the node's translation/scale undoes the position quantization, so the file
    shows the mesh at its true coordinates. About 12 bytes per vertex + 6 per triangle.
    """
    validate(vertices, faces)
    v, f = simplify(vertices, faces, budget)
    v = v.astype(np.float64)
    n = vertex_normals(v, f)

    lo, hi = v.min(axis=0), v.max(axis=0)
    centre = (lo + hi) / 2
    half = float(max((hi - lo).max() / 2, 1e-12))
    q_pos = np.round((v - centre) / half * 32767).clip(-32767, 32767).astype(np.int16)
    q_nrm = np.round(n * 127).clip(-127, 127).astype(np.int8)
    # glTF requires each vertex attribute element to start on a 4-byte boundary: pad to 8 and 4 bytes.
    pos_buf = np.zeros((len(v), 4), np.int16)
    pos_buf[:, :3] = q_pos
    nrm_buf = np.zeros((len(v), 4), np.int8)
    nrm_buf[:, :3] = q_nrm
    index_type, index_dtype = (5123, np.uint16) if len(v) < 65535 else (5125, np.uint32)
    idx_buf = f.astype(index_dtype).ravel()

    chunks = [_pad4(pos_buf.tobytes()), _pad4(nrm_buf.tobytes()), _pad4(idx_buf.tobytes())]
    offsets = np.cumsum([0] + [len(c) for c in chunks])
    binary = b"".join(chunks)
    gltf = {
        "asset": {"version": "2.0", "generator": "model_suite.meshio"},
        "extensionsUsed": ["KHR_mesh_quantization"],
        "extensionsRequired": ["KHR_mesh_quantization"],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "translation": centre.tolist(), "scale": [half, half, half]}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1}, "indices": 2, "mode": 4}]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": int(offsets[0]), "byteLength": int(pos_buf.nbytes), "byteStride": 8, "target": 34962},
            {"buffer": 0, "byteOffset": int(offsets[1]), "byteLength": int(nrm_buf.nbytes), "byteStride": 4, "target": 34962},
            {"buffer": 0, "byteOffset": int(offsets[2]), "byteLength": int(idx_buf.nbytes), "target": 34963},
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5122, "normalized": True, "count": len(v), "type": "VEC3",
             # min/max hold the stored integers, not dequantized values (glTF spec, accessor.min).
             "min": q_pos.min(axis=0).astype(int).tolist(), "max": q_pos.max(axis=0).astype(int).tolist()},
            {"bufferView": 1, "componentType": 5120, "normalized": True, "count": len(v), "type": "VEC3"},
            {"bufferView": 2, "componentType": index_type, "count": int(idx_buf.size), "type": "SCALAR"},
        ],
    }
    js = _pad4(json.dumps(gltf, separators=(",", ":")).encode(), b" ")
    total = 12 + 8 + len(js) + 8 + len(binary)
    return b"".join([
        struct.pack("<4sII", b"glTF", 2, total),
        struct.pack("<I4s", len(js), b"JSON"), js,
        struct.pack("<I4s", len(binary), b"BIN\x00"), binary,
    ])


def _needs_own_reader(data: bytes) -> bool:
    """Return whether a GLB uses extensions trimesh mishandles (quantized attributes, compression)."""
    used = set(_glb_json(data).get("extensionsUsed", []))
    return bool(used & {"KHR_mesh_quantization", "EXT_meshopt_compression", "KHR_draco_mesh_compression"})


def _glb_json(data: bytes) -> dict:
    try:
        (json_len,) = struct.unpack("<I", data[12:16])
        return json.loads(data[20 : 20 + json_len])
    except (struct.error, ValueError) as exc:
        raise MeshError("unreadable", f"the GLB's JSON chunk cannot be parsed: {exc}") from exc


_COMPONENT = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_NORM_DIVISOR = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def _node_matrix(node: dict) -> np.ndarray:
    """Return a glTF node's local 4x4 transform (matrix, or translation * rotation * scale)."""
    if "matrix" in node:
        return np.asarray(node["matrix"], float).reshape(4, 4).T  # glTF stores column-major
    x, y, z, w = node.get("rotation", [0, 0, 0, 1])
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    M = np.eye(4)
    M[:3, :3] = R * np.asarray(node.get("scale", [1, 1, 1]), float)
    M[:3, 3] = node.get("translation", [0, 0, 0])
    return M


def _read_our_glb(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Read a quantized GLB (KHR_mesh_quantization), e.g. from ``to_glb`` or gltfpack; trimesh does not dequantize."""
    gltf = _glb_json(data)
    compressed = {"EXT_meshopt_compression", "KHR_draco_mesh_compression"} & set(gltf.get("extensionsUsed", []))
    if compressed:
        raise MeshError("unsupported", f"compressed glTF ({', '.join(sorted(compressed))}) cannot be read here; "
                                       "export it without meshopt/Draco compression")
    (json_len,) = struct.unpack("<I", data[12:16])
    bin_start = 20 + json_len + 8
    binary = data[bin_start:]

    def accessor(i: int) -> np.ndarray:
        acc = gltf["accessors"][i]
        view = gltf["bufferViews"][acc["bufferView"]]
        dtype = np.dtype(_COMPONENT[acc["componentType"]])
        width = _WIDTH[acc["type"]]
        stride = view.get("byteStride", dtype.itemsize * width)
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        raw = np.frombuffer(binary, np.uint8, count=stride * (acc["count"] - 1) + dtype.itemsize * width, offset=start)
        rows = np.lib.stride_tricks.as_strided(raw, (acc["count"], dtype.itemsize * width), (stride, 1)).copy()
        out = rows.view(dtype).reshape(acc["count"], width).astype(np.float64)
        if acc.get("normalized"):
            out = np.maximum(out / _NORM_DIVISOR[acc["componentType"]], -1.0)
        return out

    verts, faces = [], []
    offset = 0
    nodes = gltf.get("nodes", [])
    scene = gltf.get("scenes", [{"nodes": list(range(len(nodes)))}])[gltf.get("scene", 0)]
    stack = [(i, np.eye(4)) for i in scene.get("nodes", [])]
    while stack:  # walk the node tree, composing each node's transform with its parent's
        i, parent = stack.pop()
        node = nodes[i]
        world = parent @ _node_matrix(node)
        stack.extend((c, world) for c in node.get("children", []))
        if "mesh" not in node:
            continue
        for prim in gltf["meshes"][node["mesh"]]["primitives"]:
            if prim.get("mode", 4) != 4 or "indices" not in prim:
                continue  # points, lines and unindexed strips carry no triangles we can use
            p = accessor(prim["attributes"]["POSITION"]) @ world[:3, :3].T + world[:3, 3]
            idx = accessor(prim["indices"]).astype(np.int64).reshape(-1, 3)
            verts.append(p)
            faces.append(idx + offset)
            offset += len(p)
    if not verts:
        raise MeshError("empty", "the glTF holds no indexed triangles")
    v, f = np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int32)
    validate(v, f)
    return v, f
