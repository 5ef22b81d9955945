"""The segmenter interface: a SAM-class server behind HTTP, SAM from local weights, and the built-in one standing in."""

import base64
import json
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from engine.intake import segmenters
from engine.intake.prompts import Prompt, Stroke


@pytest.fixture
def server():
    """A segmentation server speaking the protocol of engine/intake/segmenters.py: the mask is the box."""
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._answer({"model": "fake-sam"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(body)
            image = cv2.imdecode(np.frombuffer(base64.b64decode(body["image_png"]), np.uint8), cv2.IMREAD_COLOR)
            mask = np.zeros(image.shape[:2], np.uint8)
            x0, y0, x1, y1 = map(int, body["box"])
            mask[y0:y1, x0:x1] = 255
            self._answer({"mask_png": base64.b64encode(cv2.imencode(".png", mask)[1].tobytes()).decode()})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()


@pytest.fixture
def configured(settings):
    """Set settings.SEGMENTER and rebuild the process's segmenters for it."""
    def use(**config):
        settings.SEGMENTER = config
        segmenters._configured.clear()
    yield use
    segmenters._configured.clear()


RGB = np.full((40, 60, 3), 120, np.uint8)


def test_an_http_segmenter_answers_and_strokes_are_painted_here(server, configured):
    url, asked = server
    configured(KIND="http", URL=url)
    prompt = Prompt(points=((20, 10, True),), box=(10, 5, 30, 25), strokes=(Stroke(False, 2, ((15, 15),)),))
    mask, used, note = segmenters.segment(RGB, prompt, key="7:abc")
    assert used == "http" and note == ""
    assert mask[6, 11] and not mask[15, 15] and not mask[30, 40]  # the server's box, the eraser painted over it
    assert asked[0]["points"] == [[20, 10, True]] and asked[0]["box"] == [10, 5, 30, 25] and asked[0]["image_id"] == "7:abc"


def test_an_unreachable_server_leaves_the_built_in_segmenter_to_answer_and_says_why(configured):
    configured(KIND="http", URL="http://127.0.0.1:9")  # nothing listens on the discard port
    mask, used, note = segmenters.segment(RGB, Prompt(box=(10, 5, 30, 25)))
    assert used == "builtin" and "not answering /health" in note and mask.any()


def test_sam_without_its_package_or_weights_says_what_is_missing(tmp_path):
    sam = segmenters.SamSegmenter(str(tmp_path / "missing.pth"))
    ok, why = sam.availability()
    assert not ok and ("segment_anything" in why or "no SAM weights" in why)


def test_sam_from_local_weights_embeds_each_image_once_and_keeps_its_best_mask(tmp_path, monkeypatch):
    """The adapter's glue, against a stand-in for the segment_anything package (no weights are downloaded)."""
    calls = {"set_image": 0}

    class Predictor:
        def __init__(self, model):
            self.features = None

        def set_image(self, image):
            calls["set_image"] += 1
            self.features, self.original_size, self.input_size, self.is_image_set = image.mean(), image.shape[:2], (1, 1), True

        def predict(self, point_coords, point_labels, box, multimask_output):
            h, w = self.original_size
            masks = np.zeros((3, h, w), bool)
            masks[1, : h // 2] = True  # the best-scored of three
            return masks, np.array([0.1, 0.9, 0.3]), None

    class Model:
        def to(self, device):
            return self

    fake = types.ModuleType("segment_anything")
    fake.SamPredictor = Predictor
    fake.sam_model_registry = {"vit_b": lambda checkpoint: Model()}
    monkeypatch.setitem(sys.modules, "segment_anything", fake)
    weights = tmp_path / "sam_vit_b.pth"
    weights.write_bytes(b"weights")
    sam = segmenters.SamSegmenter(str(weights))
    assert sam.availability() == (True, f"SAM vit_b from {weights}")
    first = sam.segment(RGB, Prompt(points=((5, 5, True),)), key="img-1")
    sam.segment(RGB, Prompt(points=((5, 5, True), (30, 30, False))), key="img-1")
    assert calls["set_image"] == 1 and first[:20].all() and not first[20:].any()


def test_an_unknown_segmenter_kind_is_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="use builtin, http or sam"):
        segmenters.build({"KIND": "magic"})
