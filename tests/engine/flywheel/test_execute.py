"""A run records each step as it ends; run again after a failure, it goes on from the step that failed."""

import pytest

from engine.flywheel import iteration
from engine.flywheel.deploy import promote
from engine.flywheel.models import ModelCheckpoint, RunStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(project, tmp_path):
    promote(ModelCheckpoint.objects.create(name="base", path=str(tmp_path), stage="pretrain"))
    return iteration.create_run(project, alpha=0.4, sft_steps=3)


def test_a_failed_run_resumes_at_the_step_that_failed(run, monkeypatch):
    calls, broken = [], [True]

    def step(name):
        def fn(r, echo):
            calls.append(name)
            if name == "dpo" and broken[0]:
                raise RuntimeError("worker killed")
            r.counts = {**r.counts, name: "ok"}
        return fn

    monkeypatch.setattr(iteration, "STEPS", tuple((s, step(s)) for s, _ in iteration.STEPS))
    lines = []
    with pytest.raises(RuntimeError, match="worker killed"):
        iteration.execute(run.pk, echo=lines.append)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.step == "dpo" and "RuntimeError: worker killed" in run.error
    assert set(run.step_seconds) == {"collect", "aggregate", "sft"} and run.counts["sft"] == "ok"
    iteration.create_run(run.project).delete()  # a failed run does not block a new one

    broken[0] = False
    calls.clear()
    done = iteration.execute(run.pk, echo=lines.append)
    assert calls == ["dpo", "evaluate", "promote", "redeploy"]
    assert done.status == RunStatus.DONE and done.error == "" and len(done.step_seconds) == 7
    assert any("iteration 1: dpo" in line for line in lines)
    assert iteration.execute(run.pk).status == RunStatus.DONE and calls == ["dpo", "evaluate", "promote", "redeploy"]


def test_create_run_records_the_options_and_sets_alpha_k(run, project):
    assert run.status == RunStatus.QUEUED and run.alpha == 0.4 and project.current_iteration().alpha == 0.4
    assert run.options == {"preset": None, "sft_steps": 3, "dpo_steps": None, "seeds": [0, 1], "simulate": 0,
                           "artist_delay": 0.0, "heldout_share": 0.2, "dpo_sft_weight": iteration.DPO_SFT_WEIGHT,
                           "dpo_dpop": iteration.DPO_DPOP, "category_loss": 0.0}
    with pytest.raises(iteration.RunError, match="is queued") as busy:
        iteration.create_run(project)
    assert busy.value.field == "project"


def test_a_negative_dpo_anchor_is_refused_and_named(project):
    with pytest.raises(iteration.RunError, match="dpo_sft_weight is a loss weight") as bad:
        iteration.create_run(project, dpo_sft_weight=-1.0)
    assert bad.value.field == "dpo_sft_weight"
    with pytest.raises(iteration.RunError, match="dpo_dpop is DPO-Positive's lambda") as bad:
        iteration.create_run(project, dpo_dpop=-0.5)
    assert bad.value.field == "dpo_dpop"


def test_the_category_loss_is_refused_without_a_head_to_train(project, base_checkpoint):
    """A negative weight, and a deployed checkpoint without a category head, are refused before anything queues."""
    with pytest.raises(iteration.RunError, match="category_loss is a loss weight") as bad:
        iteration.create_run(project, category_loss=-0.5)
    assert bad.value.field == "category_loss"
    with pytest.raises(iteration.RunError, match="has no category head") as bad:
        iteration.create_run(project, base=str(base_checkpoint), category_loss=0.5)
    assert bad.value.field == "category_loss"
    assert not project.flywheel_runs.exists()


def test_the_category_loss_is_refused_for_a_model_given_the_category(project, base_checkpoint, tmp_path):
    """A π_0 that takes the category as a condition token (flywheel demo --category-condition) has no head to train:
    the run is refused before anything queues, not failed in SFT."""
    from trainer import sft
    from trainer.config import TrainConfig

    out = tmp_path / "given"
    sft.train(TrainConfig(config="tiny", out=str(out), data=[str(base_checkpoint.parent / "render")], steps=2,
                          vae_steps=2, batch_size=8, warmup=1, ckpt_every=2, category_condition=True, progress=False))
    with pytest.raises(iteration.RunError, match="given the category as a condition token") as bad:
        iteration.create_run(project, base=str(out), category_loss=0.5)
    assert bad.value.field == "category_loss"
    assert not project.flywheel_runs.exists()


def test_sft_gets_the_category_loss_of_the_run(run, monkeypatch, tmp_path):
    """The loss reaches SFT when the head knows some sample's category; with none it is left out, and said."""
    from engine.flywheel import steps

    seen = []
    monkeypatch.setattr(steps, "_train", lambda run, echo, stage, init, args, n: seen.append(args) or run.baseline)
    monkeypatch.setattr(steps, "checkpoint_categories", lambda path: ["chair", "mug"])  # the head's vocabulary
    train = tmp_path / "export" / "train"
    train.mkdir(parents=True)
    (train / "samples.jsonl").write_text('{"category": "chair"}\n{"category": "sofa"}\n')
    run.export_dir = str(tmp_path / "export")
    steps.step_sft(run, print)
    run.options["category_loss"] = 0.5
    steps.step_sft(run, print)
    assert "--category-loss" not in seen[0] and seen[1][seen[1].index("--category-loss") + 1] == 0.5
    assert run.counts["category_loss"] == {"weight": 0.5, "samples": 2, "samples_in_vocabulary": 1}
    (train / "samples.jsonl").write_text('{"category": "sofa"}\n')
    steps.step_sft(run, print)
    assert "--category-loss" not in seen[2] and "category loss skipped" in run.counts["category_loss"]


def test_a_negative_artist_delay_is_refused_and_named(project):
    with pytest.raises(iteration.RunError, match="artist_delay is seconds") as bad:
        iteration.create_run(project, simulate=2, artist_delay=-5)
    assert bad.value.field == "artist_delay"


def test_the_simulated_artists_pace_reaches_the_pool(run, monkeypatch):
    from engine.flywheel import collect, steps

    seen = []
    monkeypatch.setattr(collect, "simulate", lambda it, n, **kw: seen.append((n, kw["artist_delay"])) or {})
    run.options.update(simulate=3, artist_delay=12.5)
    steps.step_collect(run, print)
    assert seen == [(3, 12.5)]


def test_dpo_is_anchored_to_the_chosen_shapes_by_the_runs_weight(run, monkeypatch):
    from engine.flywheel import steps
    from engine.flywheel.models import ModelCheckpoint

    seen = []
    monkeypatch.setattr(steps, "_train", lambda run, echo, stage, init, args, n: seen.append(args) or run.sft_checkpoint)
    run.export_dir, run.sft_checkpoint = "/x", ModelCheckpoint(name="sft", path="sft")  # unsaved: only read
    run.counts = {"export": {"train": {"dpo_pairs": 3}, "heldout": {"dpo_pairs": 0}}}
    steps.step_dpo(run, print)
    run.options["dpo_sft_weight"] = 0.0
    run.options["dpo_dpop"] = 5.0
    steps.step_dpo(run, print)
    del run.options["dpo_dpop"]  # a run recorded before DPO-Positive resumes with plain DPO, as it started
    steps.step_dpo(run, print)
    assert [a[a.index("--sft-weight") + 1] for a in seen] == [iteration.DPO_SFT_WEIGHT, 0.0, 0.0]
    assert [a[a.index("--dpop") + 1] for a in seen] == [iteration.DPO_DPOP, 5.0, 0.0]
