"""The curriculum in the queue: the priorities the open_* services set, the claims that follow them, the refresh."""

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine.alignment.services import open_alignment_task
from engine.candidates.models import CandidateSet
from engine.intake import masks, priorities
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage, Task
from engine.ranking.services import open_ranking_tasks
from tests.engine.conftest import box_mask

pytestmark = pytest.mark.django_db
TWO = [{"group": "first", "categories": ["box"], "target": 4}, {"group": "second", "categories": ["dog"], "target": 4}]


def new_object(image, category, status=ObjectStatus.GENERATING):
    mask = box_mask(image)
    return ObjectInstance.objects.create(image=image, mask_rle=masks.encode(mask), area=int(mask.sum()),
                                         bbox=masks.bbox(mask), category=category, status=status)


def samples(image, category, n):
    for _ in range(n):
        new_object(image, category, ObjectStatus.DONE)


def open_rank(project, image, category):
    obj = new_object(image, category)
    cset = CandidateSet.objects.create(object=obj, iteration=project.current_iteration())
    return open_ranking_tasks(project, obj, cset)[0]


def claimed_categories(user, project, stage, n):
    out = []
    for _ in range(n):
        task = leases.claim(user, project.pk, stage)
        out.append(task.object.category)
        leases.complete(task, user)
    return out


@pytest.fixture
def two_groups(project):
    project.taxonomy = ["box", "dog", "other"]
    project.curriculum, project.curriculum_floor = TWO, 0.0
    project.save()
    return project


def test_claims_follow_the_first_group_until_it_nears_its_target(two_groups, image, annotator):
    for _ in range(4):
        open_rank(two_groups, image, "dog")
        open_rank(two_groups, image, "box")
    # Nothing collected yet: the first group has the whole share, the dogs wait (no floor here).
    assert claimed_categories(annotator, two_groups, Stage.RANK, 8) == ["box"] * 4 + ["dog"] * 4


def test_half_way_the_second_group_gets_half_the_claims(two_groups, image, annotator):
    samples(image, "box", 2)
    for _ in range(6):
        open_rank(two_groups, image, "box")
    for _ in range(6):
        open_rank(two_groups, image, "dog")
    assert priorities.shares(two_groups) == {"box": 0.5, "dog": 0.5, "other": 0.0}
    order = claimed_categories(annotator, two_groups, Stage.RANK, 12)
    assert order == ["box", "dog"] * 6  # fair queueing interleaves categories of equal share one by one


def test_the_floor_keeps_the_long_tail_in_the_queue(project, image, annotator):
    project.taxonomy = ["box", "dog", "other"]
    project.curriculum, project.curriculum_floor = TWO, 0.2  # box 0.2 + 0.4, dog 0.2, other 0.2
    project.save()
    for _ in range(6):
        open_rank(project, image, "box")
    for _ in range(2):
        open_rank(project, image, "other")
    first = claimed_categories(annotator, project, Stage.RANK, 4)
    assert Counter(first) == {"box": 3, "other": 1}  # 3 : 1, as 0.6 : 0.2


def test_a_refresh_re_tags_the_waiting_tasks_when_a_group_reaches_its_target(two_groups, image, annotator):
    for _ in range(3):
        open_rank(two_groups, image, "box")
        open_rank(two_groups, image, "dog")
    priorities.refresh(two_groups.pk, force=True)
    assert claimed_categories(annotator, two_groups, Stage.RANK, 1) == ["box"]
    samples(image, "box", 4)  # the first group is done: everything moves to the second
    assert priorities.refresh(two_groups.pk) > 0
    two_groups.refresh_from_db()
    assert two_groups.curriculum_state["shares"] == {"box": 0.0, "dog": 1.0, "other": 0.0}
    assert claimed_categories(annotator, two_groups, Stage.RANK, 3) == ["dog"] * 3
    assert priorities.refresh(two_groups.pk) == 0  # the shares have not moved since


def test_opening_a_task_after_the_shares_moved_refreshes_the_queue_after_the_commit(
        two_groups, image, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        open_rank(two_groups, image, "box")
    two_groups.refresh_from_db()
    assert two_groups.curriculum_state["shares"]["box"] == 1.0
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        open_rank(two_groups, image, "box")
    assert not callbacks  # nothing moved: no refresh


def test_stage_3_tasks_get_curriculum_priorities_too(two_groups, image, candidate_set, annotator):
    dog = new_object(image, "dog")
    box = new_object(image, "box")
    for obj in (dog, box):
        cset = CandidateSet.objects.create(object=obj, iteration=two_groups.current_iteration())
        open_alignment_task(two_groups, obj, cset, candidate=candidate_set.candidates.first(), rating=0.9)
    tasks = Task.objects.filter(stage=Stage.ALIGN).order_by("-priority")
    assert [t.object.category for t in tasks] == ["box", "dog"]
    assert all(t.priority < 0 for t in tasks)  # set, never the default 0 of a queue without a curriculum


def test_the_claim_stays_one_statement_with_curriculum_priorities(two_groups, image, annotator):
    for _ in range(3):
        open_rank(two_groups, image, "dog")
        open_rank(two_groups, image, "box")
    with CaptureQueriesContext(connection) as queries:
        task = leases.claim(annotator, two_groups.pk, Stage.RANK)
    assert task.object.category == "box"
    claims = [q["sql"] for q in queries.captured_queries if "pg_advisory_xact_lock" not in q["sql"]]
    if connection.vendor == "postgresql":
        assert len(claims) == 1, claims  # the claim is the statement it was: the curriculum only wrote `priority`
        assert "ORDER BY t.balance_key, t.priority DESC, t.id" in claims[0]
    else:
        assert len(claims) == 2  # SQLite: pick, then the conditional take


def test_a_curriculum_that_cannot_be_used_orders_nothing_and_the_task_opens(project, image):
    project.curriculum_floor = 0.5  # 39 categories: far more than the whole
    project.save()
    task = open_rank(project, image, "box")
    assert task.priority == 0 and priorities.refresh(project.pk, force=True) == 0
