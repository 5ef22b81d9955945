"""Two projects in one database: each deploys, retires, rolls back, samples and trains from its own checkpoints.

Shared checkpoints (no project) sit in every project's suite and are trained from before a
project has a checkpoint of its own.
"""

import json

import pytest

from engine.candidates import generation
from engine.core.models import Project
from engine.flywheel import deploy, iteration, steps
from engine.flywheel.jobs import register
from engine.flywheel.models import CheckpointStatus, DeploymentEvent, ModelCheckpoint
from model_suite.base import Availability
from model_suite.registry import build_suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(engineer):
    return (Project.objects.create(name="A", n_candidates=8, created_by=engineer),
            Project.objects.create(name="B", n_candidates=8, created_by=engineer))


def folder(root, name):
    """A checkpoint folder as the trainer writes it (a manifest is what registering reads)."""
    path = root / name / "step-0000001"
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"stage": "sft"}))
    return path


def made(root, name, project=None):
    return ModelCheckpoint.objects.create(name=name, path=str(folder(root, name)), stage="sft", project=project)


def names(checkpoints):
    return [c.name for c in checkpoints]


def test_promoting_in_b_retires_nothing_of_a(two, tmp_path):
    a, b = two
    a0, a1 = made(tmp_path, "a0", a), made(tmp_path, "a1", a)
    for c in (a0, a1):
        deploy.promote(c, keep=a.checkpoints_deployed, project=a)
    for i in range(3):
        deploy.promote(made(tmp_path, f"b{i}", b), keep=b.checkpoints_deployed, project=b)
    assert names(deploy.deployed(a)) == ["a1", "a0"]
    assert names(deploy.deployed(b)) == ["b2", "b1"]
    assert ModelCheckpoint.objects.get(name="b0").status == CheckpointStatus.RETIRED
    assert set(DeploymentEvent.objects.filter(project=b).values_list("checkpoint__project", flat=True)) == {b.pk}
    # The suite holds every deployed checkpoint, each folder once.
    assert sorted(generation.suite_config()["flow_checkpoints"]) == sorted(
        c.path for c in ModelCheckpoint.objects.filter(status=CheckpointStatus.PROMOTED))


def test_a_project_promotes_only_its_own_checkpoints(two, tmp_path):
    a, b = two
    with pytest.raises(ValueError, match="belongs to project B, not to A"):
        deploy.promote(made(tmp_path, "b0", b), project=a)
    with pytest.raises(ValueError, match="no project"):
        deploy.promote(made(tmp_path, "shared"), project=a)
    assert not deploy.deployed(a) and not DeploymentEvent.objects.exists()


def test_rollback_in_a_restores_only_a_checkpoints(two, tmp_path):
    a, b = two
    for c, p in (("a0", a), ("b0", b), ("a1", a), ("b1", b), ("a2", a)):  # interleaved in time
        deploy.promote(made(tmp_path, c, p), keep=2, project=p)
    assert names(deploy.deployed(a)) == ["a2", "a1"] and names(deploy.deployed(b)) == ["b1", "b0"]
    out, restored = iteration.rollback(a, "bad meshes")
    assert out.name == "a2" and names(restored) == ["a1", "a0"]
    assert names(deploy.deployed(a)) == ["a1", "a0"] and names(deploy.deployed(b)) == ["b1", "b0"]
    iteration.rollback(a)
    assert names(deploy.deployed(a)) == ["a0"]
    with pytest.raises(deploy.RollbackError, match="a0 is the only checkpoint of A"):
        iteration.rollback(a)
    assert names(deploy.deployed(b)) == ["b1", "b0"]                       # B's deployment never moved


def test_shared_checkpoints_are_in_every_suite_and_trained_from_until_a_project_has_its_own(two, tmp_path):
    a, b = two
    shared = deploy.promote(made(tmp_path, "shared"))
    assert deploy.newest_deployed(a) == deploy.newest_deployed(b) == shared
    a0 = deploy.promote(made(tmp_path, "a0", a), project=a)
    a1 = deploy.promote(made(tmp_path, "a1", a), keep=1, project=a)
    assert names(deploy.deployed(a)) == ["a1", "shared"]
    assert ModelCheckpoint.objects.get(pk=a0.pk).status == CheckpointStatus.RETIRED
    assert deploy.newest_deployed(a) == a1 and deploy.newest_deployed(b) == shared
    deploy.promote(made(tmp_path, "shared2"))                               # newer, yet A keeps its own line
    assert deploy.newest_deployed(a) == a1 and deploy.newest_deployed(b).name == "shared2"
    with pytest.raises(deploy.RollbackError, match="No checkpoint of B is deployed"):
        deploy.rollback(b)


def test_a_project_plans_the_generators_of_its_own_and_the_shared_checkpoints(two, tmp_path):
    a, b = two
    for c, p in (("a0", a), ("b0", b), ("a1", a), ("b1", b)):
        deploy.promote(made(tmp_path, c, p), keep=2, project=p)
    deploy.promote(made(tmp_path, "shared"))
    # The suite as the engine builds it: one generator per deployed checkpoint folder.
    flow = {g.name: g for g in build_suite({"flow_checkpoints": generation.suite_config()["flow_checkpoints"],
                                            "enabled": ["flow_model", "geometric_lifting"]})}
    assert len(flow) == 6
    ready = {name: Availability(True) for name in flow}
    for generators in ([], ["flow_model"], ["flow_model", "geometric_lifting"]):  # "flow_model": every one of ours
        a.generators = b.generators = generators
        planned_a = {name for name, _, _ in generation.plan(a, flow, ready)}
        planned_b = {name for name, _, _ in generation.plan(b, flow, ready)}
        ours_a = {"flow_model@a0-step-0000001", "flow_model@a1-step-0000001", "flow_model@shared-step-0000001"}
        lifting = {"geometric_lifting"} if generators != ["flow_model"] else set()
        assert planned_a == ours_a | lifting, generators
        assert planned_b == {n.replace("@a", "@b") for n in ours_a} | lifting, generators
    a.generators = ["flow_model@b0-step-0000001", "geometric_lifting"]      # B's model by its name: still not A's
    assert [name for name, _, _ in generation.plan(a, flow, ready)] == ["geometric_lifting"]


def test_create_run_deploys_each_projects_base_and_trains_from_its_own_newest(two, tmp_path, settings, monkeypatch):
    a, b = two
    settings.RUNS_ROOT = tmp_path / "runs"
    run_a = iteration.create_run(a, base=str(folder(tmp_path, "base-a")))
    iteration.create_run(b, base=str(folder(tmp_path, "base-b")))             # B has none of its own: deployed too
    base_a, base_b = ModelCheckpoint.objects.get(name="A/base"), ModelCheckpoint.objects.get(name="B/base")
    assert (base_a.project, base_b.project) == (a, b)
    assert deploy.deployed(a) == [base_a] and deploy.deployed(b) == [base_b]
    a1 = deploy.promote(made(tmp_path, "a1", a), project=a)
    deploy.promote(made(tmp_path, "b1", b), project=b)                        # the newest of all is B's
    seen = []
    monkeypatch.setattr(steps, "_train", lambda run, echo, stage, init, args, n: seen.append(init) or a1)
    run_a.export_dir = str(tmp_path / "export")
    steps.step_sft(run_a, echo=lambda line: None)
    assert run_a.baseline == a1 and seen == [a1.path]
    assert iteration.status(a)["deployed"] == [
        {"id": c.pk, "name": c.name, "stage": "sft", "path": c.path, "shared": False,
         "promoted_at": c.promoted_at.isoformat()} for c in (a1, base_a)]


def test_a_checkpoint_of_an_iteration_is_its_projects(two, tmp_path):
    a, _ = two
    checkpoint = ModelCheckpoint.objects.create(name="x", path="/runs/x", stage="sft", iteration=a.current_iteration())
    assert checkpoint.project == a
    registered = register("run/x", folder(tmp_path, "x"), iteration_id=a.current_iteration().pk)
    assert registered.project == a
