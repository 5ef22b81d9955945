import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh

from model_suite.meshio import load_mesh, sniff_format, to_glb
from model_suite.meshproc import MeshError


def _glb_json(data):
    (n,) = struct.unpack("<I", data[12:16])
    return json.loads(data[20 : 20 + n])


@pytest.mark.parametrize("fmt", ["obj", "ply", "stl", "off", "glb"])
def test_load_mesh_sniffs_every_format_from_content(box_mesh, fmt, tmp_path):
    mesh = trimesh.Trimesh(*box_mesh)
    data = mesh.export(file_type=fmt)
    data = data.encode() if isinstance(data, str) else data
    assert sniff_format(data) == fmt
    path = tmp_path / "no_extension"  # the name must not matter
    path.write_bytes(data)
    v, f = load_mesh(path)
    assert len(f) == 12
    assert np.allclose(np.sort(v, axis=0)[[0, -1]], np.sort(box_mesh[0], axis=0)[[0, -1]], atol=1e-5)


def test_ascii_stl_is_recognised(box_mesh):
    data = trimesh.Trimesh(*box_mesh).export(file_type="stl_ascii").encode()
    assert sniff_format(data) == "stl"
    assert len(load_mesh(data)[1]) == 12


def test_load_mesh_reads_the_pyvista_meshes(pyvista_ply):
    for name in ["airplane.ply", "ant.ply", "nut.ply", "sphere.ply"]:
        v, f = load_mesh(pyvista_ply / name)
        assert len(f) > 100 and np.isfinite(v).all()


def test_unknown_content_is_refused_with_a_code():
    with pytest.raises(MeshError) as err:
        load_mesh(b"hello, this is not a mesh at all")
    assert err.value.code == "unknown_format"


def test_glb_roundtrips_through_quantization(box_mesh):
    v, f = box_mesh
    data = to_glb(v * 3 + 1, f)
    v2, f2 = load_mesh(data)
    assert (f2 == f).all()
    assert np.abs(v2 - (v * 3 + 1)).max() < 3 * 2e-4  # int16 over the half-extent


def test_glb_is_valid_quantized_gltf_with_normals(box_mesh):
    data = to_glb(*box_mesh)
    assert data[:4] == b"glTF" and struct.unpack("<I", data[8:12])[0] == len(data) and len(data) % 4 == 0
    js = _glb_json(data)
    assert js["extensionsRequired"] == ["KHR_mesh_quantization"]
    prim = js["meshes"][0]["primitives"][0]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL"}
    pos = js["accessors"][prim["attributes"]["POSITION"]]
    assert pos["componentType"] == 5122 and pos["normalized"] and max(pos["max"]) == 32767
    for view in js["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view.get("byteStride", 4) % 4 == 0


def test_glb_of_a_10k_candidate_stays_under_the_goal(dense_sphere):
    data = to_glb(*dense_sphere, budget=10_000)
    assert _glb_json(data)["accessors"][2]["count"] <= 30_000
    assert len(data) <= 250_000


THREE = Path(__file__).resolve().parents[2] / "node_modules" / "three"
LOADER_SCRIPT = """
import { readFileSync } from 'node:fs';
import * as THREE from '%(three)s/build/three.module.js';
import { GLTFLoader } from '%(three)s/examples/jsm/loaders/GLTFLoader.js';
const data = readFileSync(process.argv[2]);
new GLTFLoader().parse(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength), '', (gltf) => {
  const box = new THREE.Box3().setFromObject(gltf.scene);
  let triangles = 0, normals = false;
  gltf.scene.traverse((o) => { if (o.isMesh) { triangles += o.geometry.index.count / 3; normals = !!o.geometry.attributes.normal; } });
  console.log(JSON.stringify({ min: box.min.toArray(), max: box.max.toArray(), triangles, normals }));
}, (err) => { console.error(err.message); process.exit(1); });
"""


@pytest.mark.skipif(not (shutil.which("node") and THREE.exists()), reason="needs node and the npm three package (npm ci)")
def test_three_js_gltfloader_reads_the_quantized_glb(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=5)
    (tmp_path / "s.glb").write_bytes(to_glb(sphere.vertices * 2 + [1, 0, 0], sphere.faces))
    (tmp_path / "load.mjs").write_text(LOADER_SCRIPT % {"three": THREE.as_posix()})
    run = subprocess.run(["node", str(tmp_path / "load.mjs"), str(tmp_path / "s.glb")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["triangles"] == 10_000 and seen["normals"]
    assert np.allclose(seen["min"], [-1, -2, -2], atol=1e-3) and np.allclose(seen["max"], [3, 2, 2], atol=1e-3)


def _rewrap(glb: bytes, edit) -> bytes:
    """Return the GLB with its JSON chunk changed by ``edit`` (the binary chunk kept)."""
    (n,) = struct.unpack("<I", glb[12:16])
    js = json.loads(glb[20 : 20 + n])
    edit(js)
    raw = json.dumps(js).encode()
    raw += b" " * (-len(raw) % 4)
    rest = glb[20 + n :]
    return struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(raw) + len(rest)) + struct.pack("<I4s", len(raw), b"JSON") + raw + rest


def test_quantized_glb_node_trees_are_composed(box_mesh):
    def parent_turns_90_degrees_about_z(js):
        js["nodes"].append({"children": [0], "rotation": [0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)], "translation": [0, 0, 5]})
        js["scenes"][0]["nodes"] = [1]

    v, _ = load_mesh(_rewrap(to_glb(*box_mesh), parent_turns_90_degrees_about_z))
    assert np.allclose(np.ptp(v, axis=0), [0.5, 1.0, 0.25], atol=1e-3)  # x and y swapped by the turn
    assert np.isclose(v[:, 2].mean(), 5.0, atol=1e-3)


def test_compressed_glb_is_refused_with_a_fix(box_mesh):
    def meshopt(js):
        js["extensionsUsed"].append("EXT_meshopt_compression")

    with pytest.raises(MeshError, match="without meshopt") as err:
        load_mesh(_rewrap(to_glb(*box_mesh), meshopt))
    assert err.value.code == "unsupported"


def _glb(js, binary=b"") -> bytes:
    """Return a GLB whose JSON chunk is ``js`` (any JSON value), with ``binary`` as its BIN chunk."""
    raw = json.dumps(js).encode()
    raw += b" " * (-len(raw) % 4)
    body = struct.pack("<I4s", len(raw), b"JSON") + raw + struct.pack("<I4s", len(binary), b"BIN\x00") + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


QUANTIZED = {"extensionsUsed": ["KHR_mesh_quantization"]}


def _edited(box_mesh, edit):
    return _rewrap(to_glb(*box_mesh), edit)


@pytest.mark.parametrize("make,reason", [
    (lambda box: _glb(["KHR_mesh_quantization"]), "is a list, not an object"),
    (lambda box: _glb({**QUANTIZED, "nodes": [{"mesh": 5}], "meshes": []}), r"meshes\[5\] does not exist"),
    (lambda box: _glb({**QUANTIZED, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": -1}], "meshes": [{}]}),
     r"meshes\[-1\] does not exist"),
    (lambda box: _edited(box, lambda js: js.pop("accessors")), "no 'accessors' list"),
    (lambda box: _edited(box, lambda js: js["meshes"][0].pop("primitives")), "KeyError"),
    (lambda box: _edited(box, lambda js: js["nodes"][0].update(matrix=[1, 2, 3])), "ValueError"),
    (lambda box: _edited(box, lambda js: js.update(extensionsUsed="KHR_mesh_quantization")), "extensionsUsed"),
    # A zero stride would let a tiny file claim a billion vertices.
    (lambda box: _edited(box, lambda js: (js["bufferViews"][0].update(byteStride=0),
                                          js["accessors"][0].update(count=10**9))), "stride"),
    (lambda box: _edited(box, lambda js: js["accessors"][0].update(count=10**9)), "past the end"),
])
def test_hostile_quantized_glb_is_refused_with_a_reason(box_mesh, make, reason):
    with pytest.raises(MeshError, match=reason) as err:
        load_mesh(make(box_mesh))
    assert err.value.code == "unreadable"


def _load_within(data, seconds):
    """Run load_mesh on ``data`` in a thread; return its exception, failing if it is still running after ``seconds``."""
    import threading

    outcome = []

    def run():
        try:
            outcome.append(load_mesh(data))
        except Exception as exc:  # noqa: BLE001 - the test inspects whatever came out
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"load_mesh still running after {seconds} s"
    return outcome[0]


def test_node_cycles_are_refused_promptly(box_mesh):
    def self_child(js):
        js["nodes"][0]["children"] = [0]

    err = _load_within(_edited(box_mesh, self_child), 5)
    assert isinstance(err, MeshError) and "cycle" in str(err)
    # The audit's probe: no scene, one node that is its own child; nothing to show, and it ends.
    err = _load_within(_glb({**QUANTIZED, "nodes": [{"children": [0]}]}), 5)
    assert isinstance(err, MeshError) and err.code == "empty"


def test_instancing_cannot_outgrow_the_triangle_limit(box_mesh, monkeypatch):
    from model_suite import meshio

    monkeypatch.setattr(meshio, "MAX_INPUT_TRIANGLES", 30)  # the box has 12; three instances pass the limit

    def three_instances(js):
        js["nodes"] += [{"mesh": 0}, {"mesh": 0}]
        js["scenes"][0]["nodes"] = [0, 1, 2]

    with pytest.raises(MeshError, match="more than 30 triangles") as err:
        load_mesh(_edited(box_mesh, three_instances))
    assert err.value.code == "too_large"
