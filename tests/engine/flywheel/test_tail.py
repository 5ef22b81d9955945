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


@pytest.fixture
def deployed_tiny(tmp_path, flywheel_suite):
    """A real (untrained) tiny checkpoint of our model, registered and deployed as the flow model."""
    import torch

    from engine.flywheel import deploy
    from engine.flywheel.models import ModelCheckpoint
    from trainer import model as trainer_model
    from trainer.checkpoints import save_checkpoint
    from trainer.config import model_config

    torch.manual_seed(0)
    path = tmp_path / "tiny" / "step-0000000"
    save_checkpoint(path, trainer_model.FlowModel(model_config("tiny")), None, {"stage": "sft", "step": 0})
    return deploy.promote(ModelCheckpoint.objects.create(name="tiny", path=str(path), stage="sft"))


def test_the_tail_set_reaches_our_model_amplified(project, annotator, obj, candidate_set, deployed_tiny):
    """The seam tail → generation.generate → GenerationContext.best_of → our model → the stored candidates."""
    from engine.candidates import generation
    from model_suite.registry import FLOW_MODEL

    project.route_failures, project.tail_best_of, project.n_candidates = False, 5, 2
    project.generators = [FLOW_MODEL]
    project.save()
    second = fail(project, annotator, candidate_set)
    assert tail.reoffer(project, second, 1, start=lambda pk: None) == [obj.pk]
    cset, jobs = generation.prepare(obj.pk)
    assert cset.best_of == 5 and [name for name, _, _ in jobs] == [FLOW_MODEL]
    report = generation.generate(cset.pk, FLOW_MODEL, 2)
    assert report["ok"] and report["count"] == 2, report
    kept = [c.extra["best_of"] for c in cset.candidates.all()]
    assert [k["M"] for k in kept] == [5, 5] and sorted(k["rank"] for k in kept) == [0, 1]
    assert {c.checkpoint_id for c in cset.candidates.all()} == {deployed_tiny.pk}
    # An ordinary set of the same object in a later iteration is not amplified.
    cset.best_of = 0
    cset.save(update_fields=["best_of"])
    cset.candidates.all().delete()
    generation.generate(cset.pk, FLOW_MODEL, 2)
    assert all("best_of" not in c.extra for c in cset.candidates.all())


def test_a_projects_best_of_amplifies_its_new_sets_ranked_by_the_category_fit(project, obj, deployed_tiny, settings,
                                                                              tmp_path):
    """The seam project.best_of → generation.prepare → the set → our model ranking against the library's category."""
    from engine.candidates import generation
    from model_suite import library, procedural
    from model_suite.registry import FLOW_MODEL

    procedural.generate_shapes(tmp_path / "src", 2, seed=0)
    library.import_directory(tmp_path / "src", tmp_path / "lib")
    settings.SHAPE_LIBRARY_DIR = tmp_path / "lib"
    generation._suite.cache_clear()
    try:
        obj.category = library.Library(tmp_path / "lib").entries[0].category
        obj.save(update_fields=["category"])
        project.best_of, project.n_candidates, project.generators = 4, 2, [FLOW_MODEL]
        project.save()
        cset, jobs = generation.prepare(obj.pk)
        assert cset.best_of == 4 and [name for name, _, _ in jobs] == [FLOW_MODEL]
        report = generation.generate(cset.pk, FLOW_MODEL, 2)
        assert report["ok"] and report["count"] == 2, report
        kept = [c.extra["best_of"] for c in cset.candidates.all()]
        assert [k["M"] for k in kept] == [4, 4] and {k["ranked_by"] for k in kept} == {"category_fit"}, kept
    finally:
        generation._suite.cache_clear()
