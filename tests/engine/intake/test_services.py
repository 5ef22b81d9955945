"""Ingest's files follow its rows: kept when the rows are, deleted when their transaction rolls back."""

from pathlib import Path

import numpy as np
import pytest
from django.db import DatabaseError, IntegrityError
from skimage import data

from engine.core import transactions
from engine.intake import services
from engine.intake.models import Image
from engine.leases.models import Task

pytestmark = pytest.mark.django_db

INTRINSICS = {"fx": 500.0, "fy": 500.0, "cx": 256.0, "cy": 256.0}


def media_files(settings):
    return sorted(str(p) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def depth_map():
    """Return a flat depth map (metres) of the astronaut's size."""
    return np.full(data.astronaut().shape[:2], 2.0, np.float32)


def fail_on_depth_row(monkeypatch):
    """Make the save of an image's depth fields fail, after both of its files are written."""
    real_save = Image.save

    def save(self, *args, **kwargs):
        if "point_cloud" in (kwargs.get("update_fields") or ()):
            raise DatabaseError("could not extend file: No space left on device")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Image, "save", save)


def test_an_ingested_image_keeps_its_file_depth_and_point_cloud(project, astronaut_png, settings):
    before = media_files(settings)
    image, created = services.ingest(project, astronaut_png, "astronaut.png", depth=depth_map(), intrinsics=INTRINSICS)
    assert created
    image.refresh_from_db()
    stored = [image.file, image.depth, image.point_cloud]
    assert all(f.storage.exists(f.name) for f in stored)
    assert media_files(settings) == sorted(before + [f.path for f in stored])


@pytest.mark.parametrize("failing", ["stage 1 task", "depth row"])
def test_an_ingest_that_fails_after_its_files_are_written_leaves_no_row_and_no_file(
        project, astronaut_png, settings, monkeypatch, failing):
    before = media_files(settings)
    if failing == "stage 1 task":
        def create(*args, **kwargs):
            raise DatabaseError("could not extend file: No space left on device")

        monkeypatch.setattr(services.leases, "create", create)
    else:
        fail_on_depth_row(monkeypatch)
    with pytest.raises(DatabaseError, match="No space"):
        services.ingest(project, astronaut_png, "astronaut.png", depth=depth_map(), intrinsics=INTRINSICS)
    assert not Image.objects.exists() and not Task.objects.exists()
    assert media_files(settings) == before


def test_an_ingest_in_a_transaction_that_rolls_back_leaves_no_file(project, astronaut_png, settings):
    before = media_files(settings)
    with pytest.raises(RuntimeError, match="caller"), transactions.atomic():
        services.ingest(project, astronaut_png, "astronaut.png", depth=depth_map(), intrinsics=INTRINSICS)
        assert len(media_files(settings)) == len(before) + 3
        raise RuntimeError("the caller fails after the ingest")
    assert not Image.objects.exists() and media_files(settings) == before


def test_a_depth_attached_later_whose_row_fails_leaves_the_image_and_no_depth_file(
        project, astronaut_png, settings, monkeypatch):
    image, _ = services.ingest(project, astronaut_png, "astronaut.png")
    before = media_files(settings)
    fail_on_depth_row(monkeypatch)
    with pytest.raises(DatabaseError, match="No space"):
        services.attach_depth(image, depth_map(), INTRINSICS)  # as seed_demo does, outside any transaction
    image.refresh_from_db()
    assert not image.depth and not image.point_cloud and image.file.storage.exists(image.file.name)
    assert media_files(settings) == before


def ingest_with_depth(project, astronaut_png):
    """Ingest the astronaut with a flat depth map; return the image and the names of its depth files."""
    image, _ = services.ingest(project, astronaut_png, "astronaut.png", depth=depth_map(), intrinsics=INTRINSICS)
    return image, [image.depth.name, image.point_cloud.name]


# attach_depth is the outermost transaction here, as in seed_demo: its commit is what deletes the old files.
@pytest.mark.django_db(transaction=True)
def test_a_depth_attached_again_replaces_the_old_files_once_it_commits(project, astronaut_png, settings):
    image, old = ingest_with_depth(project, astronaut_png)
    services.attach_depth(image, depth_map() * 1.5, INTRINSICS)
    image.refresh_from_db()
    new = [image.depth.name, image.point_cloud.name]
    assert not set(new) & set(old)
    assert all(image.depth.storage.exists(name) for name in new)
    assert not any(image.depth.storage.exists(name) for name in old)
    assert np.load(image.depth.path)[0, 0] == pytest.approx(3.0)


@pytest.mark.django_db(transaction=True)
def test_a_depth_attached_again_in_a_transaction_that_rolls_back_keeps_the_old_files(
        project, astronaut_png, settings):
    image, old = ingest_with_depth(project, astronaut_png)
    before = media_files(settings)
    with pytest.raises(RuntimeError, match="caller"), transactions.atomic():
        services.attach_depth(image, depth_map() * 1.5, INTRINSICS)
        assert len(media_files(settings)) == len(before) + 2
        raise RuntimeError("the caller fails after the depth is attached")
    image.refresh_from_db()
    assert [image.depth.name, image.point_cloud.name] == old
    assert media_files(settings) == before


def test_an_image_ingested_between_the_lookup_and_the_insert_is_returned_and_the_second_file_goes(
        project, astronaut_png, settings, monkeypatch):
    # Any database: the same race as tests/engine/intake/test_api.py's, the other ingest run at the moment
    # this one has looked for the bytes and not yet written anything.
    before = media_files(settings)
    real_assess, first = services.quality.assess, []

    def assess(*args):
        if not first:
            first.append(None)
            first[0], _ = services.ingest(project, astronaut_png, "astronaut.png")
        return real_assess(*args)

    monkeypatch.setattr(services.quality, "assess", assess)
    image, created = services.ingest(project, astronaut_png, "astronaut.png", depth=depth_map(), intrinsics=INTRINSICS)
    assert not created and image.pk == first[0].pk
    assert Image.objects.count() == 1 and Task.objects.count() == 1
    assert media_files(settings) == sorted(before + [first[0].file.path])


def test_an_integrity_error_that_is_not_the_same_bytes_is_raised(project, astronaut_png, monkeypatch):
    def create(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint \"some_other_constraint\"")

    monkeypatch.setattr(services.leases, "create", create)
    with pytest.raises(IntegrityError, match="some_other_constraint"):
        services.ingest(project, astronaut_png, "astronaut.png")
    assert not Image.objects.exists()
