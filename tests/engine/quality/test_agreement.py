"""Overlap copies: a project rate of sets ranked by two people, and how often they agree."""

import pytest

from engine.leases.models import Stage, Task
from engine.quality import rules
from tests.engine.conftest import make_user, ready_set
from tests.engine.quality.helpers import claim, new_object, rank, simulate

pytestmark = pytest.mark.django_db


def test_the_overlap_rate_sends_sets_to_two_annotators_and_agreement_is_counted_per_person(
        api, annotator, annotator2, engineer, project, image, glb_meshes):
    project.overlap_rate = 1.0
    project.save()
    objects = [new_object(image, annotator, box=(20 + 40 * i, 300, 200, 500)) for i in range(2)]
    for obj in objects:
        ready_set(obj, glb_meshes, 4)
        assert Task.objects.filter(object=obj, stage=Stage.RANK).count() == 2
    winners = {}
    for who in (annotator, annotator2):
        client = api(who)
        for _ in objects:
            task = claim(client, project)
            pick = winners.get(task["payload"]["object"]["id"])  # the second person keeps the first one's winner once
            if who == annotator2 and task["payload"]["object"]["id"] == objects[1].pk:
                pick = next(c["id"] for c in task["payload"]["candidates"] if c["id"] != pick)
            winner, _ = rank(client, task, 0.9 if who == annotator else 0.2, pick=pick, failure_category="occlusion")
            winners.setdefault(task["payload"]["object"]["id"], winner)
    report = api(engineer).get(f"/api/projects/{project.pk}/quality/").json()
    people = {r["user"]: r for r in report["annotators"]}
    for name in ("ann", "ann2"):
        assert people[name]["overlap_pairs"] == 2
        assert people[name]["winner_agreement"] == 0.5
        assert people[name]["decision_agreement"] == 0.0  # one accepted every set, the other none
    assert report["overlap_pairs"] == 2 and report["winner_agreement"] == 0.5


def test_pairs_with_a_simulated_annotator_are_left_out(api, annotator, project, candidate_set, glb_meshes):
    project.ranking_overlap = 2
    project.save()
    obj = candidate_set.object
    ready_set(new_object(obj.image, annotator, box=(20, 300, 200, 500)), glb_meshes, 4)
    robot = simulate(make_user("sim-2", "annotator"))
    rank(api(annotator), claim(api(annotator), project), 0.9)
    rank(api(robot), claim(api(robot), project), 0.9)
    from engine.quality.figures import human_users
    from engine.ranking.agreement import overlap_agreement

    assert overlap_agreement(project, human_users()) == {}
    assert rules.ranking_copies(obj.pk, 2, 0.0) == 2
