"""Push into the tail: failed objects of earlier iterations are offered again in the next one."""

import pytest
from django.utils import timezone

from engine.flywheel import tail
from engine.intake.models import ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage, Task, TaskStatus
from engine.ranking.services import compare, rate, session_for

pytestmark = pytest.mark.django_db


def fail(project, annotator, candidate_set):
    """Rank the set and rate its winner below α, then open the next iteration."""
    task = leases.claim(annotator, project.pk, Stage.RANK)
    session_for(task, annotator)
    for position in range(candidate_set.candidates.count() - 1):
        compare(task.pk, annotator, position, "left")
    rate(task.pk, annotator, 0.2)
    first = project.current_iteration()
    first.closed_at = timezone.now()
    first.save()
    return project.current_iteration()


def test_a_failed_object_is_offered_again_in_the_next_iteration(project, annotator, obj, candidate_set):
    project.route_failures = False
    project.save()
    second = fail(project, annotator, candidate_set)
    obj.refresh_from_db()
    assert obj.status == ObjectStatus.FAILED
    started = []
    assert tail.reoffer(project, second, 5, start=started.append) == [obj.pk] and started == [obj.pk]
    assert tail.reoffer(project, second, 0, start=started.append) == []
    # Its new set is amplified: our model proposes the best of project.tail_best_of samples.
    new = obj.candidate_sets.get(iteration=second)
    assert new.status == "generating" and new.best_of == project.tail_best_of == 8
    from engine.candidates.generation import prepare

    assert prepare(obj.pk)[0] == new  # generation takes up the set the tail opened


def test_an_unclaimed_artist_case_gives_way_to_the_new_set_and_a_claimed_one_stays(project, annotator, artist, obj,
                                                                                  candidate_set):
    second = fail(project, annotator, candidate_set)
    case = Task.objects.get(object=obj, stage=Stage.ARTIST)
    assert case.status == TaskStatus.OPEN
    leases.claim(artist, project.pk, Stage.ARTIST)
    assert tail.reoffer(project, second, 5, start=lambda pk: None) == []        # the artist is working on it
    leases.release(case.pk, artist)
    assert tail.reoffer(project, second, 5, start=lambda pk: None) == [obj.pk]
    case.refresh_from_db()
    assert case.status == TaskStatus.CANCELLED


def test_the_tail_is_a_share_of_the_collection_target(project):
    project.collection_target, project.tail_share = 50, 0.2
    assert tail.tail_count(project) == 10
