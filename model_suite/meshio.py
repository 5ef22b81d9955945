"""Mesh files in and out: a content-sniffed loader, a compact binary glTF writer for the browser, and a
plain binary PLY writer for datasets that other people's readers must load exactly."""

from __future__ import annotations

import io
import json
import os
import struct

import numpy as np
import trimesh

from .meshproc import DEFAULT_BUDGET, MAX_INPUT_TRIANGLES, MeshError, simplify, validate, vertex_normals

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


def to_ply(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """Return a binary little-endian PLY of the mesh as given: float32 positions, int32 triangles, nothing else.

    Unlike ``to_glb`` it neither simplifies nor quantizes, so trimesh, Open3D and every other
    reader load exactly ``vertices`` (as float32) and ``faces``.
    """
    validate(vertices, faces)
    mesh = trimesh.Trimesh(np.asarray(vertices, np.float32), np.asarray(faces, np.int32), process=False)
    return mesh.export(file_type="ply", encoding="binary", include_attributes=False)


def _needs_own_reader(data: bytes) -> bool:
    """Return whether a GLB uses extensions trimesh mishandles (quantized attributes, compression)."""
    return bool(_extensions_used(_glb_json(data)) & {"KHR_mesh_quantization", "EXT_meshopt_compression",
                                                     "KHR_draco_mesh_compression"})


def _glb_json(data: bytes) -> dict:
    """Return the GLB's JSON chunk, which must be an object."""
    try:
        (json_len,) = struct.unpack("<I", data[12:16])
        gltf = json.loads(data[20 : 20 + json_len])
    except (struct.error, ValueError) as exc:
        raise MeshError("unreadable", f"the GLB's JSON chunk cannot be parsed: {exc}") from exc
    if not isinstance(gltf, dict):
        raise MeshError("unreadable", f"the GLB's JSON chunk is a {type(gltf).__name__}, not an object")
    return gltf


def _extensions_used(gltf: dict) -> set:
    """Return the names in the glTF's extensionsUsed, refusing anything but a list of strings."""
    used = gltf.get("extensionsUsed", [])
    if not isinstance(used, list) or not all(isinstance(name, str) for name in used):
        raise MeshError("unreadable", "the glTF's extensionsUsed is not a list of names")
    return set(used)


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


def _at(gltf: dict, key: str, i) -> dict:
    """Return ``gltf[key][i]``, refusing an index that is not a non-negative int in range (no Python wrap-around)."""
    items = gltf.get(key)
    if not isinstance(items, list):
        raise MeshError("unreadable", f"the glTF has no {key!r} list")
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(items):
        raise MeshError("unreadable", f"{key}[{i!r}] does not exist; the glTF has {len(items)} {key}")
    if not isinstance(items[i], dict):
        raise MeshError("unreadable", f"{key}[{i}] is not an object")
    return items[i]


def _read_our_glb(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Read a quantized GLB (KHR_mesh_quantization), e.g. from ``to_glb`` or gltfpack; trimesh does not dequantize."""
    try:
        return _walk_our_glb(data)
    except MeshError:
        raise
    # A hostile or broken JSON chunk reaches here as a lookup or type error; name it, do not crash.
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError, struct.error) as exc:
        raise MeshError("unreadable", f"the glTF structure is malformed ({type(exc).__name__}: {exc})") from exc


def _walk_our_glb(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    gltf = _glb_json(data)
    compressed = {"EXT_meshopt_compression", "KHR_draco_mesh_compression"} & _extensions_used(gltf)
    if compressed:
        raise MeshError("unsupported", f"compressed glTF ({', '.join(sorted(compressed))}) cannot be read here; "
                                       "export it without meshopt/Draco compression")
    (json_len,) = struct.unpack("<I", data[12:16])
    bin_start = 20 + json_len + 8
    binary = data[bin_start:]

    def accessor(i) -> np.ndarray:
        acc = _at(gltf, "accessors", i)
        view = _at(gltf, "bufferViews", acc["bufferView"])
        dtype = np.dtype(_COMPONENT[acc["componentType"]])
        width = _WIDTH[acc["type"]]
        element = dtype.itemsize * width
        count = acc["count"]
        stride = view.get("byteStride", element)
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        # A stride below the element size (0 or negative) would repeat or read outside the buffer,
        # and let a tiny file claim an enormous count.
        if not all(isinstance(x, int) for x in (count, stride, start)) or count < 1 or stride < element or start < 0:
            raise MeshError("unreadable", f"accessor {i} has count {count!r}, byteStride {stride!r}, "
                                          f"offset {start!r}; expected count >= 1, stride >= {element}, offset >= 0")
        if start + stride * (count - 1) + element > len(binary):
            raise MeshError("unreadable", f"accessor {i} reaches past the end of the {len(binary)}-byte binary chunk")
        raw = np.frombuffer(binary, np.uint8, count=stride * (count - 1) + element, offset=start)
        rows = np.lib.stride_tricks.as_strided(raw, (count, element), (stride, 1)).copy()
        out = rows.view(dtype).reshape(count, width).astype(np.float64)
        if acc.get("normalized"):
            out = np.maximum(out / _NORM_DIVISOR[acc["componentType"]], -1.0)
        return out

    verts, faces = [], []
    offset = triangles = 0
    if "scenes" in gltf:
        roots = _at(gltf, "scenes", gltf.get("scene", 0)).get("nodes", [])
    else:  # no scene: show every tree, i.e. start from the nodes that are nobody's child
        nodes = gltf.get("nodes", [])
        children = {c for node in nodes for c in node.get("children", [])}
        roots = [i for i in range(len(nodes)) if i not in children]
    stack = [(i, np.eye(4)) for i in roots]
    visited = set()
    while stack:  # walk the node tree, composing each node's transform with its parent's
        i, parent = stack.pop()
        node = _at(gltf, "nodes", i)
        # glTF nodes form strict trees; a node reached twice is a cycle (which would never end) or a shared child.
        if i in visited:
            raise MeshError("unreadable", f"node {i} is reached twice (a cycle in the node tree); glTF nodes form trees")
        visited.add(i)
        world = parent @ _node_matrix(node)
        stack.extend((c, world) for c in node.get("children", []))
        if "mesh" not in node:
            continue
        for prim in _at(gltf, "meshes", node["mesh"])["primitives"]:
            if prim.get("mode", 4) != 4 or "indices" not in prim:
                continue  # points, lines and unindexed strips carry no triangles we can use
            idx = accessor(prim["indices"])
            if idx.size % 3:
                raise MeshError("unreadable", f"a triangle primitive has {idx.size} indices, not a multiple of 3")
            # Nodes may instance one mesh many times: stop before the copies outgrow memory.
            triangles += idx.size // 3
            if triangles > MAX_INPUT_TRIANGLES:
                raise MeshError("too_large", f"more than {MAX_INPUT_TRIANGLES} triangles; simplify it first")
            p = accessor(prim["attributes"]["POSITION"]) @ world[:3, :3].T + world[:3, 3]
            verts.append(p)
            faces.append(idx.astype(np.int64).reshape(-1, 3) + offset)
            offset += len(p)
            if offset > 3 * MAX_INPUT_TRIANGLES:  # more vertices than even unshared corners of the triangle limit
                raise MeshError("too_large", f"more than {3 * MAX_INPUT_TRIANGLES} vertices; simplify it first")
    if not verts:
        raise MeshError("empty", "the glTF holds no indexed triangles")
    v, f = np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int32)
    validate(v, f)
    return v, f
