"""Stage 2.5 over HTTP: a failed set reaches the artists, who upload and submit a mesh."""

import io
import json
import re
import struct
import time
import zipfile

import pytest
import trimesh

from engine.artists.models import ArtistMesh
from engine.leases import services as leases
from engine.leases.models import Stage, Task
from engine.ranking.services import compare, rate, session_for
from engine.records.models import PreferencePair

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_case(project, annotator, candidate_set):
    task = leases.claim(annotator, project.pk, Stage.RANK)
    session = session_for(task, annotator)
    for position in range(len(session.order) - 1):
        compare(task.pk, annotator, position, "left")
    rate(task.pk, annotator, 0.2, failure_category="transparency")
    return Task.objects.get(stage=Stage.ARTIST)


def upload(client, task_id, data, name="mesh.bin", **headers):
    f = io.BytesIO(data)
    f.name = name
    return client.post(f"/api/tasks/{task_id}/upload/", {"mesh": f}, format="multipart", **headers)


def claim(client, project):
    response = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "artist"}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_artist_flow_to_alignment(api, artist, project, failed_case):
    client = api(artist)
    task = claim(client, project)
    assert task["payload"]["failure_category"] == "transparency"
    assert task["payload"]["best_candidate"]["mesh_url"].endswith(".glb")
    bundle = client.get(f"/api/tasks/{task['id']}/bundle/")
    assert bundle.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert {"mask.png", "best_candidate.glb", "README.txt"} <= set(names) and any(n.startswith("image") for n in names)
    # The name says .stl but the content is OBJ: the content wins, and the path is dropped.
    obj_bytes = trimesh.creation.torus(0.5, 0.2).export(file_type="obj").encode()
    uploaded = upload(client, task["id"], obj_bytes, name="../../evil/cup.stl")
    assert uploaded.status_code == 201, uploaded.content
    mesh = ArtistMesh.objects.get()
    assert mesh.format == "obj" and "/evil" not in mesh.original.name and mesh.original.name.endswith("cup.obj")
    done = client.post(f"/api/tasks/{task['id']}/submit/", {"mesh": mesh.pk}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["routed_to"] == "align"
    align = Task.objects.get(stage=Stage.ALIGN)
    assert align.alignment.artist_mesh == mesh
    pairs = PreferencePair.objects.filter(object=failed_case.object)
    assert pairs.count() == 4 and all(p.chosen_source == "artist" for p in pairs)


def test_bad_upload_is_400_and_leaves_nothing(api, artist, project, failed_case, settings):
    from pathlib import Path

    def stored():
        return sorted(str(p) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())

    client = api(artist)
    task = claim(client, project)
    before = stored()
    response = upload(client, task["id"], b"\x00\x01garbage" * 10)
    assert response.status_code == 400
    assert response.json()["code"] == "upload_rejected" and "mesh" in response.json()["fields"]
    assert ArtistMesh.objects.count() == 0
    assert stored() == before


def _glb(js):
    """Return a GLB whose JSON chunk is ``js`` (any JSON value) and whose binary chunk is empty."""
    raw = json.dumps(js).encode()
    raw += b" " * (-len(raw) % 4)
    body = struct.pack("<I4s", len(raw), b"JSON") + raw + struct.pack("<I4s", 0, b"BIN\x00")
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


QUANTIZED = {"extensionsUsed": ["KHR_mesh_quantization"]}
BOX_ACCESSORS = {"bufferViews": [{"buffer": 0, "byteLength": 0}], "meshes": [{"primitives": [
    {"attributes": {"POSITION": 0}, "indices": 1}]}]}


@pytest.mark.parametrize("data,reason", [
    (_glb({**QUANTIZED, "nodes": [{"mesh": 5}], "meshes": []}), r"meshes\[5\] does not exist"),
    (_glb(["KHR_mesh_quantization"]), "not an object"),
    (_glb({**QUANTIZED, **BOX_ACCESSORS, "nodes": [{"mesh": 0}]}), "no 'accessors' list"),
    (_glb({**QUANTIZED, "scenes": [{"nodes": [0]}], "nodes": [{"children": [0]}]}), "cycle"),
    (_glb({**QUANTIZED, "nodes": [{"children": [0]}]}), "no triangles"),
], ids=["bad_mesh_index", "json_list", "no_accessors", "node_cycle", "node_cycle_no_scene"])
def test_hostile_glb_is_400_with_a_reason_and_leaves_nothing(api, artist, project, failed_case, settings, data, reason):
    from pathlib import Path

    def stored():
        return sorted(str(p) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())

    client = api(artist)
    client.raise_request_exception = False
    task = claim(client, project)
    before = stored()
    started = time.monotonic()
    response = upload(client, task["id"], data, name="hostile.glb")
    assert time.monotonic() - started < 5, "a hostile GLB must be refused promptly"
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "upload_rejected" and re.search(reason, body["fields"]["mesh"][0]), body
    assert ArtistMesh.objects.count() == 0
    assert stored() == before


def test_an_unexpected_loader_error_is_a_400_not_a_500(api, artist, project, failed_case, monkeypatch):
    from model_suite import meshio

    def broken(data):
        raise RuntimeError("loader bug")

    monkeypatch.setattr(meshio, "load_mesh", broken)
    client = api(artist)
    client.raise_request_exception = False
    response = upload(client, claim(client, project)["id"], trimesh.creation.box().export(file_type="obj").encode())
    assert response.status_code == 400, response.content
    assert "could not be read" in response.json()["fields"]["mesh"][0]
    assert "RuntimeError: loader bug" in response.json()["fields"]["mesh"][0]
    assert ArtistMesh.objects.count() == 0


def test_a_failed_second_file_removes_the_first(artist, project, failed_case, settings, monkeypatch):
    from pathlib import Path

    from django.core.files.storage import FileSystemStorage
    from django.core.files.uploadedfile import SimpleUploadedFile

    from engine.artists import services

    def stored():
        return sorted(str(p) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())

    real_save = FileSystemStorage._save

    def disk_full_on_glb(self, name, content):
        if name.endswith(".glb"):
            raise OSError(28, "No space left on device")
        return real_save(self, name, content)

    task = leases.claim(artist, project.pk, Stage.ARTIST)
    before = stored()
    monkeypatch.setattr(FileSystemStorage, "_save", disk_full_on_glb)
    upload_file = SimpleUploadedFile("cup.obj", trimesh.creation.box().export(file_type="obj").encode())
    with pytest.raises(OSError, match="No space"):
        services.upload(task.pk, artist, upload_file)
    assert ArtistMesh.objects.count() == 0
    assert stored() == before


def test_annotator_cannot_reach_artist_tasks(api, annotator, project, failed_case):
    client = api(annotator)
    assert client.post("/api/tasks/claim/", {"project": project.pk, "stage": "artist"}).status_code == 403
    assert upload(client, failed_case.pk, b"v 0 0 0\n").status_code == 403
    assert client.get(f"/api/tasks/{failed_case.pk}/bundle/").status_code == 403


def test_upload_without_lease_is_refused_before_reading(api, artist, project, failed_case):
    response = upload(api(artist), failed_case.pk, trimesh.creation.box().export(file_type="glb"))
    assert response.status_code == 403 and response.json()["code"] == "lease_not_held"


def test_artists_see_cases_balanced_across_categories(project, artist, annotator, obj, glb_meshes):
    from engine.artists.models import ArtistCase
    from engine.intake.models import ObjectInstance
    from tests.engine.conftest import ready_set

    categories = ["occlusion", "occlusion", "occlusion", "small_object", "small_object", "transparency"]
    for category in categories:
        o = ObjectInstance.objects.create(image=obj.image, mask_rle=obj.mask_rle, area=obj.area, bbox=obj.bbox,
                                          category="chair")
        ready_set(o, glb_meshes, 2)
        task = leases.claim(annotator, project.pk, Stage.RANK)
        compare(task.pk, annotator, 0, "left")
        rate(task.pk, annotator, 0.1, failure_category=category)
    served = []
    while (task := leases.claim(artist, project.pk, Stage.ARTIST)) is not None:
        served.append(ArtistCase.objects.get(task=task).failure_category)
    assert served[:3] == ["occlusion", "small_object", "transparency"]
    assert sorted(served) == sorted(categories)


def test_artist_can_ask_for_a_failure_category(api, artist, project, failed_case):
    client = api(artist)
    none = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "artist", "failure_category": "occlusion"},
                       format="json")
    assert none.status_code == 204
    got = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "artist",
                                            "failure_category": "transparency"}, format="json")
    assert got.status_code == 200 and got.json()["payload"]["failure_category"] == "transparency"


def stored_files(settings):
    from pathlib import Path

    return sorted(str(p) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def test_a_repeated_upload_with_the_same_idempotency_key_gets_the_first_answer_and_stores_nothing(
        api, artist, project, failed_case, settings):
    client = api(artist)
    task = claim(client, project)
    cup = trimesh.creation.box().export(file_type="obj").encode()
    first = upload(client, task["id"], cup, name="cup.obj", HTTP_IDEMPOTENCY_KEY="up-1")
    assert first.status_code == 201, first.content
    files = stored_files(settings)
    again = upload(client, task["id"], cup, name="cup.obj", HTTP_IDEMPOTENCY_KEY="up-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ArtistMesh.objects.count() == 1 and stored_files(settings) == files
    # Another file, or the same bytes under another name, is another request: refused under the same key.
    for data, name in ((trimesh.creation.icosphere().export(file_type="obj").encode(), "cup.obj"), (cup, "mug.obj")):
        refused = upload(client, task["id"], data, name=name, HTTP_IDEMPOTENCY_KEY="up-1")
        assert refused.status_code == 422, refused.content
        assert refused.json()["code"] == "idempotency_key_reused" and "Idempotency-Key" in refused.json()["fields"]
    assert ArtistMesh.objects.count() == 1 and stored_files(settings) == files
    # The answer stays the first one after the case is submitted (a retry that comes late).
    submitted = client.post(f"/api/tasks/{task['id']}/submit/", {"mesh": first.json()["id"]}, format="json")
    assert submitted.status_code == 200
    late = upload(client, task["id"], cup, name="cup.obj", HTTP_IDEMPOTENCY_KEY="up-1")
    assert late.status_code == 201 and late.json()["id"] == first.json()["id"]


def test_uploads_without_an_idempotency_key_are_stored_each_time(api, artist, project, failed_case):
    client = api(artist)
    task = claim(client, project)
    cup = trimesh.creation.box().export(file_type="obj").encode()
    ids = {upload(client, task["id"], cup, name="cup.obj").json()["id"] for _ in range(2)}
    assert len(ids) == 2 and ArtistMesh.objects.count() == 2


def test_an_upload_with_a_too_long_idempotency_key_is_400_and_stores_nothing(api, artist, project, failed_case,
                                                                             settings):
    client = api(artist)
    task = claim(client, project)
    before = stored_files(settings)
    response = upload(client, task["id"], trimesh.creation.box().export(file_type="obj").encode(),
                      HTTP_IDEMPOTENCY_KEY="k" * 101)
    assert response.status_code == 400 and response.json()["fields"] == {"Idempotency-Key": ["too long"]}
    assert ArtistMesh.objects.count() == 0 and stored_files(settings) == before


@pytest.mark.django_db(transaction=True)  # the upload's transaction is the outermost one, as in production
def test_an_upload_whose_transaction_rolls_back_after_the_files_are_stored_leaves_no_file(
        api, artist, project, failed_case, settings, monkeypatch):
    from django.db import DatabaseError

    from engine.core.models import IdempotentRequest

    real_save = IdempotentRequest.save

    def kept_answer_fails(self, *args, **kwargs):
        if "response" in (kwargs.get("update_fields") or ()):
            raise DatabaseError("could not extend file: No space left on device")
        return real_save(self, *args, **kwargs)

    client = api(artist)
    task = claim(client, project)
    before = stored_files(settings)
    monkeypatch.setattr(IdempotentRequest, "save", kept_answer_fails)
    with pytest.raises(DatabaseError, match="No space"):
        upload(client, task["id"], trimesh.creation.box().export(file_type="obj").encode(), name="cup.obj",
               HTTP_IDEMPOTENCY_KEY="up-1")
    assert ArtistMesh.objects.count() == 0 and not IdempotentRequest.objects.exists()
    assert stored_files(settings) == before
    # The upload's repeat runs again, and this time is kept.
    monkeypatch.setattr(IdempotentRequest, "save", real_save)
    again = upload(client, task["id"], trimesh.creation.box().export(file_type="obj").encode(), name="cup.obj",
                   HTTP_IDEMPOTENCY_KEY="up-1")
    assert again.status_code == 201, again.content
    assert ArtistMesh.objects.count() == 1 and len(stored_files(settings)) == len(before) + 2
