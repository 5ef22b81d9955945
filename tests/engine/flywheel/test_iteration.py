"""A whole flywheel iteration on the tiny preset: simulated annotators collect, SFT and DPO train,
the new checkpoint is compared with the deployed one, the rule decides, and iteration 2 opens."""

import json

import pytest
from django.core.management import call_command

from engine.core.models import Project
from engine.flywheel import deploy
from engine.flywheel.models import CheckpointStatus, FlywheelRun, ModelCheckpoint, RunStatus
from tests.engine.simulation.conftest import FAST_GENERATORS

pytestmark = pytest.mark.django_db(transaction=True)
TAXONOMY = ["chair", "stool", "table", "shelf", "bench", "mug", "bottle", "bowl"]


def test_a_whole_iteration_on_the_tiny_preset_with_simulated_annotators(flywheel_suite, base_checkpoint, capsys):
    Project.objects.create(name="fly", alpha=0.3, n_candidates=4, taxonomy=TAXONOMY,
                           generators=[*FAST_GENERATORS, "flow_model"], collection_target=4,
                           alpha_schedule=[0.0, 0.4], tail_share=0.5)
    # α_1 = 0 and no held-out share: every collected sample trains. The held-out split is by a hash of the
    # object id, and ids depend on the tests run before, so in CI all four objects were once held out. This
    # test is about the run; the exports' tests cover α_k and the split, the demo's the held-out pairs.
    call_command("flywheel", "run", "--project", "fly", "--base", str(base_checkpoint), "--config", "tiny",
                 "--steps", "4", "--seeds", "0", "--simulate", "1", "--heldout-share", "0", "--sync")
    out = capsys.readouterr().out
    run = FlywheelRun.objects.get()
    with capsys.disabled():
        print("\n" + out + f"\nstep seconds: {run.step_seconds}")
    assert run.status == RunStatus.DONE, run.error
    assert set(run.step_seconds) == {"collect", "aggregate", "sft", "dpo", "evaluate", "promote", "redeploy"}
    assert run.counts["collection"]["samples"] >= 4 and run.counts["simulation"]["counts"]["align"] >= 4
    assert run.acceptance_rate is not None and run.generator_yield
    assert sum(run.annotation_seconds["simulated"].values()) >= 0 and not run.annotation_seconds["people"]
    assert run.counts["export"]["train"]["samples"] >= 1
    assert run.sft_checkpoint.stage == "sft" and run.sft_checkpoint.parent == run.baseline
    assert run.checkpoint.stage in ("dpo", "sft")
    assert run.progress["step"] == 4
    assert "viou" in run.comparison["delta"] and "viou" in run.metrics_before["metrics_se"]
    if run.counts["export"]["train"]["dpo_pairs"]:                             # pretrain → SFT → DPO
        sft, dpo, stage = run.comparison["sft"], run.comparison["dpo"], run.comparison["dpo_stage"]
        assert sft["before"] == dpo["before"] == run.metrics_before and "viou" in sft["delta"]
        assert run.checkpoint.stage == ("dpo" if stage["pays"] else "sft") and "DPO against SFT" in stage["reason"]
        # The SFT checkpoint, with no DPO reference of its own, is scored for preference against π_{k-1}.
        if run.comparison["preference"]:
            assert sft["preference"]["a"]["ref"].startswith(run.baseline.path.rstrip("/"))
    assert run.decision in ("promoted", "kept") and run.reason
    new = ModelCheckpoint.objects.get(pk=run.checkpoint_id)
    if run.decision == "promoted":
        assert [c.pk for c in deploy.deployed(run.project)] == [new.pk, run.baseline_id]   # π_k beside π_{k-1}
        from engine.candidates.generation import suite

        flow = {name for name in suite() if name.startswith("flow_model")}
        assert len(flow) == 2, flow                                             # two generators, head to head
    else:
        assert new.status == CheckpointStatus.EVALUATED and deploy.deployed(run.project) == [run.baseline]
    assert run.next_iteration.number == 2 and run.next_iteration.alpha == 0.4 and run.iteration.closed_at
    assert "iteration 2 open" in out and "sft step 4/4" in out
    state = json.loads(_status(capsys))
    assert state["iteration"] == {"number": 2, "alpha": 0.4} and state["runs"][0]["id"] == run.pk
    assert [c["id"] for c in state["deployed"]] == [c.pk for c in deploy.deployed(run.project)]
    assert run.baseline.project == run.project == new.project                   # π_0 and π_k are the project's


def test_an_iteration_trains_the_category_head_on_stage1_categories(flywheel_suite, category_base, capsys):
    """`flywheel run --category-loss`: the samples' Stage 1 categories reach SFT through the real export, and
    train π_0's category head there; DPO, which refuses the loss, leaves the head as SFT left it."""
    from trainer.checkpoints import load_checkpoint, read_manifest, resolve

    vocabulary = load_checkpoint(category_base)[0].cfg.categories
    taxonomy = [c for c in TAXONOMY if c in vocabulary]   # every simulated object's category is one the head knows
    assert taxonomy, vocabulary
    Project.objects.create(name="fly", alpha=0.3, n_candidates=4, taxonomy=taxonomy,
                           generators=[*FAST_GENERATORS, "flow_model"], collection_target=4,
                           alpha_schedule=[0.0, 0.4], tail_share=0.5)
    call_command("flywheel", "run", "--project", "fly", "--base", str(category_base), "--config", "tiny",
                 "--steps", "4", "--seeds", "0", "--simulate", "1", "--heldout-share", "0", "--category-loss", "0.5",
                 "--sync")
    capsys.readouterr()
    run = FlywheelRun.objects.get()
    assert run.status == RunStatus.DONE, run.error
    assert run.options["category_loss"] == 0.5
    samples = run.counts["export"]["train"]["samples"]
    assert samples >= 1
    sft = read_manifest(resolve(run.sft_checkpoint.path))
    assert sft["category_loss"] == {"weight": 0.5, "rows_with_category": samples, "rows": samples}, sft["category_loss"]
    assert run.counts["category_loss"] == {"weight": 0.5, "samples": samples, "samples_in_vocabulary": samples}
    assert sft["model_config"]["categories"] == vocabulary
    if run.checkpoint.stage == "dpo":
        assert "category_loss" not in read_manifest(resolve(run.checkpoint.path))


def test_an_iteration_keeps_stage1_labels_outside_pi0s_vocabulary(flywheel_suite, named_base, capsys):
    """`flywheel run` from a π_0 given the category by its name's embedding, on a project whose every Stage 1
    label is one π_0 never saw: our model proposes given each object's own name (not "unknown"), the export's
    names reach SFT as categories of their own, and the checkpoint it trains still reads them so."""
    from engine.candidates.models import Candidate
    from trainer.checkpoints import load_checkpoint, read_manifest, resolve
    from trainer.data.shapes import ASSEMBLY_KINDS

    pi0 = load_checkpoint(named_base)[0]
    taxonomy = ["bench", "bowl"]                       # procedural categories no primitive render shows
    assert pi0.cfg.category_text and not set(taxonomy) & (set(pi0.cfg.categories) | set(ASSEMBLY_KINDS))
    Project.objects.create(name="fly", alpha=0.3, n_candidates=4, taxonomy=taxonomy,
                           generators=[*FAST_GENERATORS, "flow_model"], collection_target=4,
                           alpha_schedule=[0.0, 0.4], tail_share=0.5)
    call_command("flywheel", "run", "--project", "fly", "--base", str(named_base), "--config", "tiny",
                 "--steps", "4", "--seeds", "0", "--simulate", "1", "--heldout-share", "0", "--sync")
    capsys.readouterr()
    run = FlywheelRun.objects.get()
    assert run.status == RunStatus.DONE, run.error
    ours = list(Candidate.objects.filter(generator="flow_model").select_related("candidate_set__object"))
    assert ours
    for c in ours:                                      # told the object's own name, which π_0 never saw
        assert c.extra["category_condition"] == c.candidate_set.object.category in taxonomy, c.extra
    samples = run.counts["export"]["train"]["samples"]
    sft = read_manifest(resolve(run.sft_checkpoint.path))
    assert samples >= 1 and sft["category_condition"]["rows_with_category"] == sft["category_condition"]["rows"] == samples
    assert sft["model_config"]["categories"] == pi0.cfg.categories and sft["model_config"]["category_text"]
    trained = load_checkpoint(resolve(run.sft_checkpoint.path))[0]
    assert (trained.category_ids(taxonomy) > len(trained.cfg.categories)).all()


def test_sft_replays_the_deployed_models_data_beside_the_collected_samples(flywheel_suite, base_checkpoint, capsys):
    """`flywheel run --replay DATA`: SFT draws a share of each batch from π_0's own training data (its renders here)
    beside the export's rows, and says so in its manifest; a folder that is not training data, or a share outside
    (0, 1), is refused before any run is recorded."""
    from django.core.management.base import CommandError

    from trainer.checkpoints import read_manifest, resolve

    renders = base_checkpoint.parent / "render"                 # what π_0 was pretrained on
    Project.objects.create(name="fly", alpha=0.3, n_candidates=4, taxonomy=TAXONOMY,
                           generators=[*FAST_GENERATORS, "flow_model"], collection_target=4,
                           alpha_schedule=[0.0, 0.4], tail_share=0.5)
    for args, message in ((["--replay", str(base_checkpoint)], "not a trainer cache"),
                          (["--replay", str(renders), "--replay-share", "1"], "between 0 and 1")):
        with pytest.raises(CommandError, match=message):
            call_command("flywheel", "run", "--project", "fly", "--base", str(base_checkpoint), "--sync", *args)
    assert not FlywheelRun.objects.exists()
    call_command("flywheel", "run", "--project", "fly", "--base", str(base_checkpoint), "--config", "tiny",
                 "--steps", "4", "--seeds", "0", "--simulate", "1", "--heldout-share", "0", "--replay", str(renders),
                 "--replay-share", "0.25", "--sync")
    capsys.readouterr()
    run = FlywheelRun.objects.get()
    assert run.status == RunStatus.DONE, run.error
    assert run.options["replay"] == [str(renders)] and run.options["replay_share"] == 0.25
    sft = read_manifest(resolve(run.sft_checkpoint.path))
    samples = run.counts["export"]["train"]["samples"]
    assert sft["replay"] == {"sources": [str(renders)], "rows": 16, "new_rows": samples, "share": 0.25}
    assert sft["config"]["replay"] == [str(renders)]


def _status(capsys):
    call_command("flywheel", "status", "--project", "fly")
    return capsys.readouterr().out


def test_sft_trains_without_the_category_loss_when_no_sample_is_in_the_heads_vocabulary(category_base, tmp_path):
    """The head's vocabulary is fixed at pretraining; a project's categories need not all be in it. An iteration
    whose samples name none of them trains SFT without the loss (and says so) instead of failing after the
    collection; one with some passes the loss and counts them."""
    from types import SimpleNamespace

    from engine.flywheel.steps import category_loss_note, checkpoint_categories

    vocabulary = checkpoint_categories(category_base)
    assert vocabulary
    train = tmp_path / "export" / "train"
    train.mkdir(parents=True)
    run = SimpleNamespace(baseline=SimpleNamespace(path=str(category_base), name="fly/base"),
                          export_dir=str(tmp_path / "export"))

    def samples(*categories):
        (train / "samples.jsonl").write_text("".join(json.dumps({"category": c}) + "\n" for c in categories))
    samples("not-a-category", "", "another")
    note = category_loss_note(run, 0.5)
    assert isinstance(note, str) and note.startswith("category loss skipped: none of the 3 training samples"), note
    assert "another, not-a-category" in note and "fly/base" in note
    samples(vocabulary[0], "not-a-category")
    assert category_loss_note(run, 0.5) == {"weight": 0.5, "samples": 2, "samples_in_vocabulary": 1}
