"""Media in an S3-compatible bucket, shared by two engine hosts: tested against moto's S3 server on this machine."""

import io
import sys
import uuid

import boto3
import pytest
import requests
import trimesh
from django.db import connection
from rest_framework.authtoken.models import Token

from engine.artists.models import ArtistMesh
from engine.artists.services import open_artist_case
from engine.candidates.models import CandidateSet, SetStatus
from engine.loadtest import services
from tests.drills.services import (
    engine_env,
    engine_server,
    suite_database_url,
    wait_for,
)
from tests.engine.conftest import make_user
from tests.engine.flywheel.test_aggregate import new_object

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
BUCKET = "engine-media"
KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@pytest.fixture
def s3_endpoint(tmp_path):
    """moto's S3 server on a free port with the bucket made; yield its URL."""
    pytest.importorskip("moto.server", reason="moto[server] is a test dependency (pip install -e '.[test]')")
    port = services.free_port()
    proc = services.start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=None,
                          log=tmp_path / "moto.log")
    url = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return requests.get(url, timeout=2).status_code < 500
            except requests.RequestException:
                return False
        wait_for(up, 60, "moto's S3 server")
        _s3(url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        services.stop(proc)


def _s3(url):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def test_two_hosts_share_media_through_the_bucket(project, image, annotator, s3_endpoint, tmp_path):
    """An upload through host A lands in the bucket, not on A's disk; host B serves it and takes its submit."""
    if connection.vendor != "postgresql":
        pytest.skip("the servers share the test database, which needs PostgreSQL")
    artist = make_user("art-s3", "artist")
    token = Token.objects.create(user=artist).key
    obj = new_object(image, annotator, 40)
    cset = CandidateSet.objects.create(object=obj, iteration=project.current_iteration(), status=SetStatus.FAILED)
    open_artist_case(project, obj, cset, failure_category="", rating=0.1)
    mesh = trimesh.creation.icosphere(subdivisions=2).export(file_type="ply")
    common = dict(MEDIA_STORAGE="s3", S3_BUCKET=BUCKET, S3_ENDPOINT_URL=s3_endpoint, S3_REGION="us-east-1",
                  S3_ADDRESSING_STYLE="path", DEBUG=0, SECRET_KEY="s3-" + uuid.uuid4().hex, **KEYS)
    disks = {name: tmp_path / f"disk-{name}" for name in "ab"}
    for disk in disks.values():
        disk.mkdir()
    with engine_server(engine_env(suite_database_url(), media_root=disks["a"], **common), tmp_path / "a.log") as (a, _), \
            engine_server(engine_env(suite_database_url(), media_root=disks["b"], **common), tmp_path / "b.log") as (b, _):
        http = requests.Session()
        http.headers["Authorization"] = f"Token {token}"
        task = http.post(f"{a}/api/tasks/claim/", json={"project": project.pk, "stage": "artist"}, timeout=30).json()
        uploaded = http.post(f"{a}/api/tasks/{task['id']}/upload/", files={"mesh": ("m.ply", io.BytesIO(mesh))},
                             headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=60)
        assert uploaded.status_code == 201, uploaded.text[:1000]
        row = ArtistMesh.objects.get(pk=uploaded.json()["id"])
        keys = {o["Key"] for o in _s3(s3_endpoint).list_objects_v2(Bucket=BUCKET).get("Contents", [])}
        assert {row.original.name, row.mesh.name} <= keys
        # The API hands out the bucket's own URL, signed for a few minutes; /media/ on any host redirects to one.
        signed = uploaded.json()["mesh_url"]
        assert signed.startswith(f"{s3_endpoint}/{BUCKET}/") and "Signature" in signed
        served = http.get(f"{b}/media/{row.mesh.name}", allow_redirects=False, timeout=30)
        assert served.status_code == 302 and served.headers["Location"].startswith(f"{s3_endpoint}/{BUCKET}/")
        stored = _s3(s3_endpoint).get_object(Bucket=BUCKET, Key=row.mesh.name)["Body"].read()
        for url in (signed, served.headers["Location"]):
            glb = requests.get(url, timeout=30)
            assert glb.status_code == 200 and glb.content == stored and glb.content[:4] == b"glTF"
        assert requests.get(f"{b}/media/{row.mesh.name}", allow_redirects=False, timeout=30).status_code == 401
        done = http.post(f"{b}/api/tasks/{task['id']}/submit/", json={"mesh": row.pk},
                         headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=30)
        assert done.status_code == 200, done.text[:1000]
    assert not [p for disk in disks.values() for p in disk.rglob("*") if p.is_file()]  # nothing on a host's disk

