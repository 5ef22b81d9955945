"""The external adapter against a stand-in server started here on 127.0.0.1 (random port)."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
import trimesh

from model_suite.base import GenerationContext
from model_suite.external import ExternalGenerator
from model_suite.raycast import pose_vertices


class StandIn(BaseHTTPRequestHandler):
    """Answer like an image-to-3D server: a box as wide/tall as the mask's bounding box, one per seed."""

    requests_seen: list = []

    def log_message(self, *args):
        pass

    def _reply(self, code, payload):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._reply(200, {"model": "stand-in", "version": "0.1"})
        else:
            self._reply(404, {})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StandIn.requests_seen.append(body)
        mask = cv2.imdecode(np.frombuffer(base64.b64decode(body["mask_png"]), np.uint8), cv2.IMREAD_GRAYSCALE) > 0
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        candidates = []
        for k in range(body["n"]):
            box = trimesh.creation.box((len(cols) / 100, len(rows) / 100, 0.3 + 0.1 * k))
            fmt = ["glb", "obj", "ply"][k % 3]  # the adapter must sniff each format
            data = box.export(file_type=fmt)
            data = data.encode() if isinstance(data, str) else data
            candidates.append({"mesh": base64.b64encode(data).decode(), "seed": body["seed"] + k,
                               "pose": {"R": np.eye(3).tolist(), "t": [0, 0, 3.0], "s": 1.0}})
        candidates.insert(1, {"mesh": base64.b64encode(b"garbage").decode(), "seed": -1})
        self._reply(200, {"model": "stand-in", "version": "0.1", "candidates": candidates})


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_available_only_when_the_server_answers(server):
    assert ExternalGenerator(server).availability().reason == "stand-in 0.1"
    assert not ExternalGenerator(None).availability().ok
    gone = ExternalGenerator("http://127.0.0.1:9", timeout=1).availability()  # port 9 (discard) is closed here
    assert not gone.ok and "not answering" in gone.reason


def test_health_answers_are_cached_for_a_while(server, monkeypatch):
    gen = ExternalGenerator(server)
    clock = [0.0]
    monkeypatch.setattr(gen, "_now", lambda: clock[0])
    assert gen.availability().ok
    gen.url = "http://127.0.0.1:9"  # the server "goes away"
    assert gen.availability().ok  # still within the TTL
    clock[0] += gen.HEALTH_TTL + 1
    assert not gen.availability().ok


def test_generate_sends_the_object_and_returns_posed_candidates(server):
    image = np.zeros((60, 80, 3), np.uint8)
    image[..., 0] = 200  # red, to check the channel order on the wire
    mask = np.zeros((60, 80), bool)
    mask[10:50, 20:40] = True
    ctx = GenerationContext(category="box", description="a cardboard box")
    out = ExternalGenerator(server, name="trellis_local").generate(image, mask, ctx, 3, 7)
    sent = StandIn.requests_seen[-1]
    assert (sent["n"], sent["seed"], sent["category"]) == (3, 7, "box")
    rgb = cv2.imdecode(np.frombuffer(base64.b64decode(sent["image_png"]), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert (rgb[..., 0] == 200).all()
    assert [c.seed for c in out] == [7, 8, 9]  # the garbage answer in second place was skipped
    assert all(c.generator == "trellis_local" and c.kind == "external" for c in out)
    assert all(np.isclose(np.ptp(c.vertices, axis=0).max(), 1.0) for c in out)
    # the server's pose still places its (un-normalized) mesh: 0.2 m wide, 0.4 m tall at 3 m
    cam = pose_vertices(out[0].vertices, out[0].pose)
    assert np.allclose(np.ptp(cam, axis=0)[:2], [0.2, 0.4], atol=1e-3)
    assert out[0].extra["server_model"] == "stand-in"
    assert out[0].extra["skipped"] and "candidate 1" in out[0].extra["skipped"][0]
