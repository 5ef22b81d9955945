"""A database outage is a 503 and a full disk a 507, both with Retry-After; a failed write leaves no partial file."""

import errno

import pytest
from django.core.files.base import ContentFile
from django.db import OperationalError
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from engine.core import failpoints
from engine.core.storage import MediaStorage


def _view(exc):
    class Failing(APIView):
        authentication_classes, permission_classes = [], []

        def post(self, request):
            raise exc
    return Failing.as_view()


def test_a_lost_database_is_a_503_to_retry():
    response = _view(OperationalError("server closed the connection unexpectedly"))(APIRequestFactory().post("/x"))
    assert response.status_code == 503 and response.data["code"] == "unavailable"
    assert response["Retry-After"] == "2" and "Idempotency-Key" in response.data["detail"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_a_full_disk_is_a_507_to_retry(code):
    response = _view(OSError(code, "No space left on device"))(APIRequestFactory().post("/x"))
    assert response.status_code == 507 and response.data["code"] == "storage_full"
    assert "storage is full" in response.data["detail"] and response["Retry-After"] == "2"


def test_other_os_errors_are_not_taken_for_a_full_disk():
    with pytest.raises(PermissionError):
        _view(PermissionError(errno.EACCES, "denied"))(APIRequestFactory().post("/x"))


class FillsUp(ContentFile):
    """Content whose second chunk meets a full disk."""

    def chunks(self, chunk_size=None):
        yield b"x" * 1000
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_write_that_fails_part_way_leaves_no_file(tmp_path):
    storage = MediaStorage(location=tmp_path)
    with pytest.raises(OSError) as failed:
        storage.save("meshes/a.glb", FillsUp(b""))
    assert failed.value.errno == errno.ENOSPC
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert storage.save("meshes/a.glb", ContentFile(b"whole")) == "meshes/a.glb"  # the name is free again


def test_a_failpoint_acts_only_where_armed(monkeypatch):
    monkeypatch.setenv("ENGINE_FAILPOINTS", "x.y[b]=sleep:0.01")
    failpoints.hit("x.y", "a")  # another detail: nothing
    failpoints.hit("x.z")
    monkeypatch.setenv("ENGINE_FAILPOINTS", "x.y=explode")
    with pytest.raises(ValueError, match="NAME=kill"):
        failpoints.hit("x.y")
