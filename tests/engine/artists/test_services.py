"""Opening artist cases: the one place Stage 2.5 work is made, whoever routes the object there."""

import pytest

from engine.artists.models import ArtistCase
from engine.artists.services import open_artist_case
from engine.candidates import generation
from engine.candidates.models import CandidateSet, SetStatus
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage

pytestmark = pytest.mark.django_db


def new_object(obj):
    return ObjectInstance.objects.create(image=obj.image, mask_rle=obj.mask_rle, area=obj.area, bbox=obj.bbox,
                                         category="chair")


def test_artist_cases_from_empty_sets_get_a_balance_key_by_category(project, obj, artist):
    routed = new_object(obj)
    cset = CandidateSet.objects.create(object=routed, iteration=project.current_iteration(), status=SetStatus.FAILED)
    open_artist_case(project, routed, cset, failure_category="occlusion", rating=0.2)
    empties = [new_object(obj) for _ in range(2)]
    for o in empties:  # nothing could be proposed: the set closes straight to the artists
        assert generation.close(CandidateSet.objects.create(object=o, iteration=project.current_iteration())) \
            == SetStatus.FAILED
    cases = ArtistCase.objects.order_by("id").select_related("task", "task__object")
    assert [(c.failure_category, c.task.balance_key) for c in cases] == [("occlusion", 0), ("other", 0), ("other", 1)]
    assert all(c.task.object.status == ObjectStatus.ARTIST and c.best_candidate is None for c in cases[1:])
    # Served by balance_key first: the categories interleave.
    served = [leases.claim(artist, project.pk, Stage.ARTIST).artist_case.failure_category for _ in range(3)]
    assert served == ["occlusion", "other", "other"]


def test_a_case_without_a_failure_category_is_filed_as_other(project, obj):
    cset = CandidateSet.objects.create(object=obj, iteration=project.current_iteration(), status=SetStatus.FAILED)
    task = open_artist_case(project, obj, cset, failure_category="", rating=0.1)
    assert task.stage == Stage.ARTIST and task.artist_case.failure_category == "other"
    obj.refresh_from_db()
    assert obj.status == ObjectStatus.ARTIST
