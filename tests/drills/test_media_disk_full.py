"""Drill: the media disk fills while artists upload meshes; the upload fails clearly and leaves nothing dangling."""

import hashlib
import io
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests
import trimesh
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from engine.artists.models import ArtistMesh
from engine.artists.services import open_artist_case
from engine.candidates.models import CandidateSet, SetStatus
from tests.drills.services import engine_env, engine_server, suite_database_url
from tests.engine.conftest import make_user
from tests.engine.flywheel.test_aggregate import new_object

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

DISK = 1024 * 1024  # the media file system: a 1 MiB tmpfs


@pytest.fixture
def media_disk():
    """A small real file system (tmpfs) mounted for the drill's media; skipped where mounting is not allowed."""
    folder = Path(tempfile.mkdtemp(prefix="engine-drill-media-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0755", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def _mesh_ply():
    """A real mesh as binary PLY, about 100 kB (its GLB copy about as much)."""
    sphere = trimesh.creation.icosphere(subdivisions=4)
    sphere.vertices += np.random.default_rng(0).normal(0, 0.01, sphere.vertices.shape)
    return sphere.export(file_type="ply")


def _stored(folder):
    return {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file() and p.name != "filler"}


def test_a_full_media_disk_fails_the_upload_clearly_and_leaves_no_row_without_its_file(
        project, image, annotator, media_disk, tmp_path):
    """Proves the upload's rollback of files, the partial-file cleanup and the 507 answer on a really full disk.

    The engine (gunicorn, production settings) stores media on a 1 MiB tmpfs that a filler file has
    mostly used. An artist uploads a ~100 kB mesh (kept as the original and a GLB) for case after
    case until the disk is full. Then: the failing upload is answered 507 `storage_full` with
    Retry-After and a message that says the storage is full; every ArtistMesh row has both its
    files, whole (the original's sha256 is the row's); no file is on the disk that no row points
    at (no half-written file); and once space is freed the next upload and submit succeed on the
    same server, no restart. Broken on purpose, it fails: with Django's plain FileSystemStorage a
    half-written file stays behind; without the 507 answer the artist gets a 500.
    """
    if connection.vendor != "postgresql":
        pytest.skip("the server shares the test database, which needs PostgreSQL")
    artist = make_user("art-d", "artist")
    token = Token.objects.create(user=artist).key
    iteration = project.current_iteration()
    for i in range(8):
        obj = new_object(image, annotator, 10 + 20 * i)
        cset = CandidateSet.objects.create(object=obj, iteration=iteration, status=SetStatus.FAILED)
        open_artist_case(project, obj, cset, failure_category="", rating=0.1)
    mesh = _mesh_ply()
    usable = os.statvfs(media_disk).f_bavail * os.statvfs(media_disk).f_frsize
    (media_disk / "filler").write_bytes(b"\0" * (usable - int(3.5 * 2 * len(mesh))))  # room for about 3 uploads

    env = engine_env(suite_database_url(), media_root=media_disk, DEBUG=0, SECRET_KEY="drill-" + uuid.uuid4().hex)
    with engine_server(env, tmp_path / "server.log") as (url, server):
        http = requests.Session()
        http.headers["Authorization"] = f"Token {token}"

        def upload():
            task = http.post(f"{url}/api/tasks/claim/", json={"project": project.pk, "stage": "artist"}, timeout=30)
            assert task.status_code == 200, task.text
            task_id = task.json()["id"]
            answer = http.post(f"{url}/api/tasks/{task_id}/upload/", files={"mesh": ("case.ply", io.BytesIO(mesh))},
                               headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=60)
            if answer.status_code == 201:
                done = http.post(f"{url}/api/tasks/{task_id}/submit/", json={"mesh": answer.json()["id"]},
                                 headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=30)
                assert done.status_code == 200, done.text
            return answer

        answers = [upload()]
        while answers[-1].status_code == 201 and len(answers) < 8:
            answers.append(upload())
        full = answers[-1]
        stored_when_full = _stored(media_disk)
        (media_disk / "filler").unlink()
        again = upload()
        assert server.poll() is None

    assert 2 <= len(answers) <= 6, [a.status_code for a in answers]
    assert full.status_code == 507, full.text[:500]
    assert full.json()["code"] == "storage_full" and "storage is full" in full.json()["detail"]
    assert full.headers.get("Retry-After")
    assert again.status_code == 201, again.text[:500]
    rows = list(ArtistMesh.objects.all())
    assert len(rows) == len(answers)  # every upload before the full one, and the one after
    referenced = set()
    for row in rows:
        original, glb = Path(media_disk) / row.original.name, Path(media_disk) / row.mesh.name
        assert original.is_file() and glb.is_file(), f"row {row.pk} points at a missing file"
        assert hashlib.sha256(original.read_bytes()).hexdigest() == row.sha256, f"row {row.pk}: its file is cut"
        referenced |= {row.original.name, row.mesh.name}
    stray = set(stored_when_full) - referenced
    assert not stray, f"files no row points at, left by the failed upload: {sorted(stray)}"
    assert settings.MEDIA_ROOT != str(media_disk)  # the drill's disk is the server's alone
