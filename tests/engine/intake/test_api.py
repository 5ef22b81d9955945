"""Ingest and Stage 1 over HTTP."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage
from scipy import ndimage
from skimage import data

from engine.candidates.models import CandidateSet
from engine.intake import masks
from engine.intake.models import Image, ObjectInstance
from engine.leases.models import Stage, Task
from tests.engine.conftest import box_mask

pytestmark = pytest.mark.django_db


def png(array):
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "x.png"
    return buffer


def test_ingest_checks_quality_and_opens_stage1_only_for_good_images(api, engineer, project):
    client = api(engineer)
    good = client.post(f"/api/projects/{project.pk}/images/", {"file": png(data.astronaut())}, format="multipart")
    assert good.status_code == 201 and good.json()["quality_ok"]
    blurry = ndimage.gaussian_filter(data.camera(), 10)
    bad = client.post(f"/api/projects/{project.pk}/images/", {"file": png(blurry)}, format="multipart")
    assert bad.status_code == 201 and not bad.json()["quality_ok"] and "blurry" in bad.json()["quality_reason"]
    again = client.post(f"/api/projects/{project.pk}/images/", {"file": png(data.astronaut())}, format="multipart")
    assert again.status_code == 200 and again.json()["id"] == good.json()["id"]
    assert Task.objects.filter(stage=Stage.SELECT).count() == 1


def test_ingest_refuses_a_non_image_and_keeps_nothing(api, engineer, project):
    junk = io.BytesIO(b"not an image at all")
    junk.name = "junk.png"
    response = api(engineer).post(f"/api/projects/{project.pk}/images/", {"file": junk}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["fields"]
    assert Image.objects.count() == 0


def png_header(width, height):
    """Return a tiny PNG that claims to be width x height (1-bit grey); only its header is valid."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    buffer = io.BytesIO(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                        + chunk(b"IEND", b""))
    buffer.name = "bomb.png"
    return buffer


@pytest.mark.parametrize("side", [20_000, 10_000], ids=["past_pillows_limit", "past_ours"])
def test_ingest_refuses_a_decompression_bomb_and_keeps_nothing(api, engineer, project, side):
    client = api(engineer)
    client.raise_request_exception = False
    response = client.post(f"/api/projects/{project.pk}/images/", {"file": png_header(side, side)}, format="multipart")
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["file"] == ["too many pixels"] and "64,000,000 pixels" in response.json()["detail"]
    assert Image.objects.count() == 0


def test_ingest_refuses_a_truncated_image_with_a_reason(api, engineer, project):
    client = api(engineer)
    client.raise_request_exception = False
    whole = png(data.astronaut()).getvalue()
    for cut in (40, 200, len(whole) // 2):
        broken = io.BytesIO(whole[:cut])
        broken.name = "broken.png"
        response = client.post(f"/api/projects/{project.pk}/images/", {"file": broken}, format="multipart")
        assert response.status_code == 400 and "file" in response.json()["fields"], (cut, response.content)
    assert Image.objects.count() == 0


def test_annotator_cannot_ingest(api, annotator, project):
    response = api(annotator).post(f"/api/projects/{project.pk}/images/", {"file": png(data.astronaut())},
                                   format="multipart")
    assert response.status_code == 403


def test_stage1_happy_path_selects_objects_and_starts_generation(api, annotator, image, eager_celery,
                                                                 django_capture_on_commit_callbacks):
    client = api(annotator)
    task = client.post("/api/tasks/claim/", {"project": image.project_id, "stage": "select"}, format="json").json()
    assert task["payload"]["image"]["width"] == image.width and task["payload"]["object_count"] == 0
    proposal = client.post(f"/api/images/{image.pk}/segment/", {"points": [[250, 150, 1], [20, 20, 0]]},
                           format="json")
    assert proposal.status_code == 200, proposal.content
    assert proposal.json()["area"] > 1000
    response = client.post(f"/api/tasks/{task['id']}/objects/", {
        "mask": proposal.json()["mask"], "category": "astronaut", "description": "a person in a space suit",
        "confirm_multi_region": True,
    }, format="json")
    assert response.status_code == 201, response.content
    obj = ObjectInstance.objects.get()
    assert obj.category == "person" and obj.selected_by == annotator  # synonym resolved by the taxonomy
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(f"/api/tasks/{task['id']}/submit/", {"seconds": 9.5}, format="json")
    assert done.status_code == 200 and done.json()["objects"] == [obj.pk]
    assert CandidateSet.objects.filter(object=obj).exists()


@pytest.mark.parametrize("mutate,field", [
    (lambda m, img: np.zeros_like(m), "mask"),
    (lambda m, img: np.zeros((10, 10), bool), "mask"),
])
def test_bad_masks_are_400_with_reason(api, annotator, image, mutate, field):
    client = api(annotator)
    task = client.post("/api/tasks/claim/", {"project": image.project_id, "stage": "select"}, format="json").json()
    mask = mutate(box_mask(image), image)
    response = client.post(f"/api/tasks/{task['id']}/objects/",
                           {"mask": masks.encode(mask), "category": "chair"}, format="json")
    assert response.status_code == 400 and field in response.json()["fields"], response.content


@pytest.mark.parametrize("rle,reason", [
    ({"size": [100_000, 100_000], "counts": [10_000_000_000]}, "Mask is 100000x100000 but the image is"),
    ({"size": [512, 512], "counts": [10**30]}, "Mask runs add up to 1000000000000000000000000000000 pixels"),
    ({"size": [512, 512], "counts": [2**63, 2**63, 512 * 512]}, "Mask runs add up to"),  # no int64 wrap-around
], ids=["huge_claimed_size", "overflowing_run", "runs_summing_past_int64"])
def test_hostile_mask_is_refused_before_decoding(api, annotator, image, rle, reason):
    import time
    import tracemalloc

    client = api(annotator)
    client.raise_request_exception = False
    task = client.post("/api/tasks/claim/", {"project": image.project_id, "stage": "select"}, format="json").json()
    tracemalloc.start()
    started = time.monotonic()
    response = client.post(f"/api/tasks/{task['id']}/objects/", {"mask": rle, "category": "chair"}, format="json")
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 400, response.content
    assert reason in response.json()["fields"]["mask"][0], response.content
    assert elapsed < 5 and peak < 50_000_000, (elapsed, peak)  # the claimed mask was never built
    assert ObjectInstance.objects.count() == 0


def test_unknown_category_and_malformed_payload(api, annotator, image):
    client = api(annotator)
    task = client.post("/api/tasks/claim/", {"project": image.project_id, "stage": "select"}, format="json").json()
    response = client.post(f"/api/tasks/{task['id']}/objects/",
                           {"mask": masks.encode(box_mask(image)), "category": "spaceship-xyz"}, format="json")
    assert response.status_code == 400 and "category" in response.json()["fields"]
    response = client.post(f"/api/tasks/{task['id']}/objects/", {"mask": "nope"}, format="json")
    assert response.status_code == 400 and {"mask", "category"} <= set(response.json()["fields"])


def test_split_mask_needs_confirmation(api, annotator, image):
    client = api(annotator)
    task = client.post("/api/tasks/claim/", {"project": image.project_id, "stage": "select"}, format="json").json()
    mask = box_mask(image, 10, 10, 60, 60) | box_mask(image, 300, 300, 380, 380)
    url = f"/api/tasks/{task['id']}/objects/"
    refused = client.post(url, {"mask": masks.encode(mask), "category": "chair"}, format="json")
    assert refused.status_code == 400 and "separate regions" in refused.json()["detail"]
    ok = client.post(url, {"mask": masks.encode(mask), "category": "chair", "confirm_multi_region": True},
                     format="json")
    assert ok.status_code == 201


def test_ingest_with_depth_derives_a_point_cloud(api, engineer, project):
    from model_suite.depth import motorcycle_example

    left, metres, intrinsics = motorcycle_example()
    depth = io.BytesIO()
    np.save(depth, metres)
    depth.seek(0)
    depth.name = "depth.npy"
    client = api(engineer)
    response = client.post(f"/api/projects/{project.pk}/images/", {
        "file": png(left), "depth": depth, "intrinsics": '{"fx": %f, "fy": %f, "cx": %f, "cy": %f}' % (
            intrinsics["fx"], intrinsics["fy"], intrinsics["cx"], intrinsics["cy"]),
    }, format="multipart")
    assert response.status_code == 201, response.content
    image = Image.objects.get()
    cloud = np.frombuffer(image.point_cloud.read(), dtype="<f4").reshape(-1, 3)
    assert len(cloud) > 100_000 and np.isfinite(cloud).all() and (cloud[:, 2] > 0).all()
    wrong = io.BytesIO()
    np.save(wrong, metres[:10])
    wrong.seek(0)
    wrong.name = "d.npy"
    bad = client.post(f"/api/projects/{project.pk}/images/", {"file": png(data.camera()), "depth": wrong,
                                                               "intrinsics": '{"fx": 1, "fy": 1, "cx": 0, "cy": 0}'},
                      format="multipart")
    assert bad.status_code == 400 and "depth" in bad.json()["fields"]
    assert Image.objects.count() == 1


def claim_select(client, image):
    response = client.post("/api/tasks/claim/", {"project": image.project_id, "stage": "select"}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_repeated_object_with_the_same_idempotency_key_gets_the_first_answer_and_adds_nothing(api, annotator,
                                                                                                 image):
    client = api(annotator)
    task = claim_select(client, image)
    url = f"/api/tasks/{task['id']}/objects/"
    body = {"mask": masks.encode(box_mask(image)), "category": "chair", "description": "a chair"}
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1")
    assert first.status_code == 201, first.content
    ObjectInstance.objects.filter(pk=first.json()["id"]).update(status="generating")  # the object moved on since
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1")
    assert again.status_code == 201 and again.json() == first.json()  # the first answer, as it was
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert ObjectInstance.objects.count() == 1
    # The same request under a new key is a new object: the key, not the body, names a request.
    assert client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-2").status_code == 201
    assert ObjectInstance.objects.count() == 2
    # A late repeat (the task finished meanwhile) still gets the first answer rather than a lease error.
    assert client.post(f"/api/tasks/{task['id']}/submit/", {}, format="json").status_code == 200
    late = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1")
    assert late.status_code == 201 and late.json() == first.json()
    assert ObjectInstance.objects.count() == 2


def test_an_idempotency_key_reused_for_another_object_is_refused(api, annotator, annotator2, image):
    client = api(annotator)
    task = claim_select(client, image)
    url = f"/api/tasks/{task['id']}/objects/"
    body = {"mask": masks.encode(box_mask(image)), "category": "chair"}
    assert client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1").status_code == 201
    for other in ({**body, "category": "table"}, {**body, "category": "nonsense"}):
        refused = client.post(url, other, format="json", HTTP_IDEMPOTENCY_KEY="obj-1")
        assert refused.status_code == 422, refused.content
        answer = refused.json()
        assert answer["code"] == "idempotency_key_reused"
        assert answer["fields"] == {"Idempotency-Key": ["already used for a different request"]}
        assert f"POST {url}" in answer["detail"]
    assert ObjectInstance.objects.count() == 1
    # Keys are the user's own: another annotator's "obj-1" is theirs (refused here for holding no lease).
    response = api(annotator2).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1")
    assert response.status_code == 403 and response.json()["code"] == "lease_not_held"


def test_objects_without_an_idempotency_key_are_created_each_time(api, annotator, image):
    from engine.core.models import IdempotentRequest

    client = api(annotator)
    task = claim_select(client, image)
    body = {"mask": masks.encode(box_mask(image)), "category": "chair"}
    ids = [client.post(f"/api/tasks/{task['id']}/objects/", body, format="json").json()["id"] for _ in range(2)]
    assert len(set(ids)) == 2 and ObjectInstance.objects.count() == 2
    assert not IdempotentRequest.objects.exists()


def test_a_failed_request_keeps_no_key_and_its_repeat_runs_again(api, annotator, image):
    client = api(annotator)
    task = claim_select(client, image)
    url = f"/api/tasks/{task['id']}/objects/"
    body = {"mask": masks.encode(box_mask(image)), "category": "chair"}
    Task.objects.filter(pk=task["id"]).update(lease_owner=None)  # the lease is lost: the request fails
    assert client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1").status_code == 403
    Task.objects.filter(pk=task["id"]).update(lease_owner=annotator)
    assert client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1").status_code == 201
    assert ObjectInstance.objects.count() == 1


def test_a_too_long_idempotency_key_is_400_with_the_field(api, annotator, image):
    client = api(annotator)
    task = claim_select(client, image)
    body = {"mask": masks.encode(box_mask(image)), "category": "chair"}
    response = client.post(f"/api/tasks/{task['id']}/objects/", body, format="json", HTTP_IDEMPOTENCY_KEY="k" * 101)
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"Idempotency-Key": ["too long"]}
    assert "101 characters" in response.json()["detail"]
    assert ObjectInstance.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_identical_objects_sent_at_the_same_moment_with_one_key_add_one(api, annotator, image):
    import threading

    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    client = api(annotator)
    task = claim_select(client, image)
    url = f"/api/tasks/{task['id']}/objects/"
    body = {"mask": masks.encode(box_mask(image)), "category": "chair"}
    answers = {}

    def repeat():
        try:
            answers["repeat"] = api(annotator).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1")
        finally:
            connection.close()

    # The first request has created its object but not committed when the repeat arrives (a double click).
    with transaction.atomic():
        answers["first"] = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="obj-1")
        other = threading.Thread(target=repeat)
        other.start()
        other.join(1.0)  # the repeat waits for the first to commit
    other.join(30)
    assert answers["first"].status_code == answers["repeat"].status_code == 201
    assert answers["repeat"].json() == answers["first"].json()
    assert ObjectInstance.objects.count() == 1


def wait_for_a_wait_on(connection, thread, seconds=60):
    """Return True once another PostgreSQL backend waits on a lock this connection holds (False if thread ends)."""
    import time

    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while thread.is_alive() and time.monotonic() < deadline:
            # pg_locks is read live, not from the transaction's snapshot as pg_stat_activity is.
            cursor.execute("SELECT count(*) FROM pg_locks"
                           " WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))")
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_same_bytes_posted_twice_at_the_same_moment_return_the_first_image(api, engineer, project, settings):
    import threading
    from pathlib import Path

    from django.db import connection

    from engine.core import transactions
    from engine.intake import services

    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    media = Path(settings.MEDIA_ROOT)
    before = {p for p in media.rglob("*") if p.is_file()}
    astronaut = png(data.astronaut())
    answers = {}

    def second():
        try:
            answers["second"] = api(engineer).post(f"/api/projects/{project.pk}/images/",
                                                   {"file": png(data.astronaut())}, format="multipart")
        except Exception as exc:  # the test client raises what the view did not handle (a 500)
            answers["second"] = exc
        finally:
            connection.close()

    # The first ingest has inserted its row and not committed when the second one, having found no
    # row, writes its file and inserts the same (project, sha256): it waits on the first's row.
    with transactions.atomic():
        first, created = services.ingest(project, astronaut.getvalue(), "x.png", user=engineer)
        other = threading.Thread(target=second)
        other.start()
        assert wait_for_a_wait_on(connection, other), answers
    other.join(60)
    assert created and getattr(answers["second"], "status_code", None) == 200, answers["second"]
    assert answers["second"].json()["id"] == first.pk
    assert Image.objects.count() == 1 and Task.objects.filter(stage=Stage.SELECT).count() == 1
    # The second's file went with its rolled-back row; the first's is kept.
    assert {p for p in media.rglob("*") if p.is_file()} == before | {Path(first.file.path)}
