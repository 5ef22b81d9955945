"""Candidate generation with the real model suite, in-process (the embedded mode)."""

import time
from pathlib import Path

import pytest
from django.conf import settings

from engine.candidates import generation, tasks
from engine.candidates.models import Candidate, CandidateSet, SetStatus
from engine.intake.models import ObjectStatus
from engine.leases.models import Stage, Task
from model_suite.base import Generator

pytestmark = pytest.mark.django_db


def test_plan_splits_n_over_available_generators(project, suite_settings):
    suite = generation.suite()
    plan = generation.plan(project, suite)
    assert sum(n for _, n, _ in plan) == project.n_candidates
    available = {name for name, g in suite.items() if g.availability().ok}
    assert {name for name, _, _ in plan} <= available
    assert "flow_model" not in available  # no checkpoint is promoted: it says so and is skipped
    assert suite["flow_model"].availability().reason


def test_a_project_that_asks_for_the_flow_model_gets_every_deployed_checkpoint(project):
    from model_suite.base import Availability
    from model_suite.flow_model import FlowModelGenerator
    from model_suite.lifting import GeometricLiftingGenerator

    suite = {"flow_model@run-1": FlowModelGenerator("run/1", name="flow_model@run-1"),
             "flow_dpo": FlowModelGenerator("run/2", name="flow_dpo"), "geometric_lifting": GeometricLiftingGenerator()}
    ready = {name: Availability(True) for name in suite}
    project.generators = ["flow_model"]
    assert {name for name, _, _ in generation.plan(project, suite, ready)} == {"flow_model@run-1", "flow_dpo"}
    project.generators = ["flow_dpo", "geometric_lifting"]
    assert {name for name, _, _ in generation.plan(project, suite, ready)} == {"flow_dpo", "geometric_lifting"}


def test_object_gets_a_full_set_and_a_ranking_task(project, obj, suite_settings, eager_celery):
    project.n_candidates = 6
    project.save()
    started = time.perf_counter()
    cset = tasks.start(obj.pk)
    cset.refresh_from_db()
    assert cset.status == SetStatus.READY, cset.generator_report
    candidates = list(cset.candidates.all())
    assert len(candidates) == 6
    assert len({(c.generator, c.seed) for c in candidates}) == 6
    assert all(c.mesh.name.endswith(".glb") and c.size_bytes > 0 and 0 < c.triangles <= 10_000 for c in candidates)
    # Blind comparison: the mesh URL the browser fetches does not name the generator.
    assert not any(c.generator in c.mesh.url or c.kind in c.mesh.url for c in candidates)
    assert cset.generator_report["flow_model"]["ok"] is False
    assert Task.objects.filter(stage=Stage.RANK, candidate_set=cset).count() == 1
    obj.refresh_from_db()
    assert obj.status == ObjectStatus.RANKING
    print(f"set of 6 in {time.perf_counter() - started:.1f}s")


def test_retried_job_adds_nothing(project, obj, suite_settings, eager_celery):
    cset = tasks.start(obj.pk)
    before = Candidate.objects.filter(candidate_set=cset).count()
    name = cset.candidates.first().generator
    n = cset.candidates.filter(generator=name).count()
    # Redelivered after the set closed: refused, the set is in Stage 2.
    report = generation.generate(cset.pk, name, n)
    assert not report["ok"] and report["reason"] == "the set is no longer generating" and report["count"] == 0
    # Redelivered while the set is still generating: the same seeds, so nothing new.
    CandidateSet.objects.filter(pk=cset.pk).update(status=SetStatus.GENERATING)
    report = generation.generate(cset.pk, name, n)
    assert report["ok"] and report["count"] == 0
    assert Candidate.objects.filter(candidate_set=cset).count() == before


class Library(Generator):
    """A retrieval generator that returns library shapes in a fixed order, with a pose fit per shape."""

    kind = "retrieval"

    def __init__(self, name, shapes):
        self.name, self.version, self.shapes = name, "1", shapes  # [(shape_id, mask_iou)]

    def generate(self, image, mask, context, n, seed):
        import trimesh

        from model_suite.candidates import make_candidate

        out = []
        for i, (shape, iou) in enumerate(self.shapes[:n]):
            box = trimesh.creation.box(extents=(1.0, 1.0 + 0.1 * int(shape[1:]), 1.0))
            out.append(make_candidate(self, box.vertices, box.faces, seed + i, time.perf_counter(), shape_id=shape,
                                      mask_iou=iou))
        return out


def test_a_shape_two_generators_found_is_kept_once_and_the_set_topped_up(project, obj, eager_celery, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    import hashlib

    text = Library("text", [("s1", 0.5), ("s2", 0.6), ("s4", 0.7)])
    silhouette = Library("silhouette", [("s1", 0.9), ("s3", 0.4), ("s5", 0.8)])
    monkeypatch.setattr(generation, "suite", lambda: {"text": text, "silhouette": silhouette})
    with django_capture_on_commit_callbacks(execute=True):
        cset = tasks.start(obj.pk)  # N = 4: two each, s1 twice; the lost place goes to silhouette
    cset.refresh_from_db()
    assert cset.status == SetStatus.READY
    held = sorted((c.extra["shape_id"], c.generator) for c in cset.candidates.all())
    # s1 kept from silhouette, whose pose fits the mask better; silhouette's next shape fills the set.
    assert held == [("s1", "silhouette"), ("s2", "text"), ("s3", "silhouette"), ("s5", "silhouette")]
    report = cset.generator_report
    assert report["text"]["repeated_shapes"] == 1 and report["text"]["count"] == 1
    assert report["silhouette"]["top_up"] == 1 and report["silhouette"]["count"] == 3
    stored = {p.name for p in Path(settings.MEDIA_ROOT).rglob("*.glb")}
    assert {Path(c.mesh.name).name for c in cset.candidates.all()} <= stored
    dropped = hashlib.sha256(f"{cset.pk}:text:{generation.job_seed(cset.pk, 'text')}".encode()).hexdigest()[:20]
    assert f"{dropped}.glb" not in stored  # text's copy of s1: its file went with its row


class Broken(Generator):
    """A generator that passes its availability check and then fails, like a server going down mid-set."""

    name, version, kind = "broken", "1", "external"

    def generate(self, image, mask, context, n, seed):
        raise ConnectionError("server went away")


class OnGpu(Generator):
    name, version, kind, queue = "on_gpu", "1", "model", "gpu"


def test_a_generator_failing_mid_set_leaves_its_share_to_the_others(project, obj, eager_celery, monkeypatch):
    from model_suite.lifting import GeometricLiftingGenerator

    suite = {"geometric_lifting": GeometricLiftingGenerator(grid=24), "broken": Broken()}
    monkeypatch.setattr(generation, "suite", lambda: suite)
    cset = tasks.start(obj.pk)  # N = 4: two each, then the two lost are asked of lifting
    cset.refresh_from_db()
    assert cset.status == SetStatus.READY
    keys = list(cset.candidates.values_list("generator", "seed"))
    assert len(keys) == 4 and len(set(keys)) == 4 and {g for g, _ in keys} == {"geometric_lifting"}
    assert len({c.extra["method"] for c in cset.candidates.all()}) == 4  # the top-up added new shapes, not copies
    report = cset.generator_report
    assert report["broken"]["ok"] is False and "server went away" in report["broken"]["reason"]
    assert report["geometric_lifting"]["count"] == 4 and report["geometric_lifting"]["top_up"] == 2


def test_each_job_goes_to_its_generators_queue(project, obj, monkeypatch):
    import celery

    from engine.celery import app
    from model_suite.lifting import GeometricLiftingGenerator

    monkeypatch.setattr(generation, "suite", lambda: {"geometric_lifting": GeometricLiftingGenerator(), "on_gpu": OnGpu()})
    monkeypatch.setitem(app.conf, "task_always_eager", False)  # queues are a broker's: in-process, jobs run here
    sent = []
    monkeypatch.setattr(celery, "chord", lambda header: sent.extend(header) or (lambda callback: None))
    tasks.start(obj.pk)
    assert {s.args[1]: s.options["queue"] for s in sent} == {"geometric_lifting": "cpu", "on_gpu": "gpu"}
    assert sorted(s.args[2] for s in sent) == [2, 2]


def test_a_promoted_checkpoint_proposes_candidates_that_name_it(project, obj, suite_settings, eager_celery, tmp_path):
    torch = pytest.importorskip("torch")
    from django.utils import timezone

    from engine.flywheel.models import CheckpointStatus, ModelCheckpoint
    from trainer.checkpoints import save_checkpoint
    from trainer.config import model_config
    from trainer.model import FlowModel

    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "sft", FlowModel(model_config("tiny")), None,
                           {"stage": "sft", "step": 0, "sampler": {"steps": 2}})
    ckpt = ModelCheckpoint.objects.create(name="sft-0", path=str(path), stage="sft", status=CheckpointStatus.PROMOTED,
                                          promoted_at=timezone.now())
    project.n_candidates, project.generators = 2, ["flow_model"]
    project.save()
    cset = tasks.start(obj.pk)
    cset.refresh_from_db()
    assert cset.generator_report["flow_model"]["ok"], cset.generator_report
    candidates = list(cset.candidates.all())
    assert candidates and all(c.kind == "model" and c.checkpoint_id == ckpt.pk for c in candidates)
    assert all(c.pose["source"] == "layout_token" and c.extra["checkpoint_hash"] for c in candidates)


def test_a_folder_two_projects_deployed_is_one_generator_whose_candidates_name_the_sets_project(
        project, obj, suite_settings, eager_celery, tmp_path):
    torch = pytest.importorskip("torch")
    from engine.core.models import Project
    from engine.flywheel import deploy
    from engine.flywheel.models import ModelCheckpoint
    from trainer.checkpoints import save_checkpoint
    from trainer.config import model_config
    from trainer.model import FlowModel

    torch.manual_seed(0)
    path = str(save_checkpoint(tmp_path / "base", FlowModel(model_config("tiny")), None,
                               {"stage": "pretrain", "step": 0, "sampler": {"steps": 2}}))
    other = Project.objects.create(name="other")
    theirs = deploy.promote(ModelCheckpoint.objects.create(name="other/base", path=path, stage="pretrain", project=other))
    ours = deploy.promote(ModelCheckpoint.objects.create(name="test/base", path=path, stage="pretrain", project=project))
    assert generation.suite_config()["flow_checkpoints"] == [path]      # one folder, one generator
    project.n_candidates, project.generators = 2, ["flow_model"]
    project.save()
    cset = tasks.start(obj.pk)
    assert {c.checkpoint_id for c in cset.candidates.all()} == {ours.pk} != {theirs.pk}


def test_an_external_server_configured_by_url_fills_its_share(project, obj, suite_settings, eager_celery):
    import threading
    from http.server import ThreadingHTTPServer

    from tests.model_suite.test_external import StandIn

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        suite_settings.EXTERNAL_GENERATOR_URL = f"http://127.0.0.1:{httpd.server_address[1]}"
        project.n_candidates, project.generators = 3, ["external"]
        project.save()
        cset = tasks.start(obj.pk)
    finally:
        httpd.shutdown()
        httpd.server_close()
    cset.refresh_from_db()
    assert cset.status == SetStatus.READY, cset.generator_report
    candidates = list(cset.candidates.all())
    assert len(candidates) == 3 and all(c.kind == "external" and c.mesh.name.endswith(".glb") for c in candidates)
    assert all(c.extra["server_model"] == "stand-in" and c.pose is not None for c in candidates)
    assert StandIn.requests_seen[-1]["description"] == obj.description


def set_files(cset):
    """Return the names of the files stored under a set's folder."""
    folder = Path(settings.MEDIA_ROOT) / "candidates" / str(cset.pk)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def held_files(cset):
    return sorted(Path(c.mesh.name).name for c in cset.candidates.all())


@pytest.fixture
def generating_set(project, obj, monkeypatch):
    """A set still generating, whose only generator ("text") returns two library shapes."""
    monkeypatch.setattr(generation, "suite", lambda: {"text": Library("text", [("s1", 0.5), ("s2", 0.6)])})
    return CandidateSet.objects.create(object=obj, iteration=project.current_iteration())


def test_a_candidate_whose_row_fails_to_save_leaves_no_file_and_the_retried_job_stores_it(generating_set, monkeypatch):
    from django.db import OperationalError

    cset = generating_set
    real_save = Candidate.save
    saved = []

    def second_save_fails(self, *args, **kwargs):
        if saved:
            raise OperationalError("server closed the connection unexpectedly")
        saved.append(self)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Candidate, "save", second_save_fails)
    with pytest.raises(OperationalError):  # transient: Celery retries the job
        generation.generate(cset.pk, "text", 2)
    # The first candidate is kept with its file; the second left neither row nor file.
    assert cset.candidates.count() == 1 and set_files(cset) == held_files(cset)
    monkeypatch.setattr(Candidate, "save", real_save)
    report = generation.generate(cset.pk, "text", 2)
    assert report["ok"] and report["count"] == 1
    assert cset.candidates.count() == 2 and set_files(cset) == held_files(cset)


def test_a_candidate_a_concurrent_retry_stored_first_leaves_no_second_file(generating_set, monkeypatch):
    from model_suite import meshproc

    cset = generating_set
    real_simplify = meshproc.simplify
    rival = []

    def rival_stores_it_meanwhile(vertices, faces, budget):
        # Between this job's check for the candidate and its save, the same job redelivered elsewhere stores it.
        if not rival:
            rival.append(True)
            [mesh] = generation.suite()["text"].generate(None, None, None, 1, generation.job_seed(cset.pk, "text"))
            assert generation.store(cset, mesh, generation.job_seed(cset.pk, "text")) == 1
        return real_simplify(vertices, faces, budget)

    monkeypatch.setattr(meshproc, "simplify", rival_stores_it_meanwhile)
    report = generation.generate(cset.pk, "text", 2)
    assert report["ok"] and report["count"] == 1  # the first candidate was the rival's
    assert cset.candidates.count() == 2 and set_files(cset) == held_files(cset)


def test_candidates_stored_in_a_transaction_that_rolls_back_leave_no_file(generating_set):
    from engine.core import transactions

    cset = generating_set
    with pytest.raises(RuntimeError, match="caller"), transactions.atomic():
        assert generation.generate(cset.pk, "text", 2)["count"] == 2 and len(set_files(cset)) == 2
        raise RuntimeError("the caller fails after the job")
    assert not cset.candidates.exists() and set_files(cset) == []
