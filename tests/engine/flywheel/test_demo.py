"""`flywheel demo` on the tiny preset: π_0 pretrained and mid-trained, two simulated iterations, the tables and the
report."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from engine.flywheel.models import FlywheelRun, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)
TINY = ["--config", "tiny", "--pretrain-n", "16", "--pretrain-steps", "4", "--vae-steps", "4", "--midtrain-n", "8",
        "--midtrain-steps", "2", "--collection-target", "3", "--n-candidates", "4", "--sft-steps", "2", "--dpo-steps",
        "2", "--eval-n", "4", "--annotators", "2"]


@pytest.fixture
def demo_suite(flywheel_suite, tmp_path):
    return tmp_path


def test_the_demo_runs_two_iterations_and_reports_the_cascade_and_ratings(demo_suite, capsys):
    report = demo_suite / "report.json"
    call_command("flywheel", "demo", *TINY, "--sft-steps", "2", "3", "--report", str(report))
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out[-3000:])
    data = json.loads(report.read_text())
    runs = FlywheelRun.objects.order_by("id")
    assert [r.status for r in runs] == [RunStatus.DONE, RunStatus.DONE], [r.error for r in runs]
    assert [r["iteration"] for r in data["runs"]] == [1, 2] and [r["alpha"] for r in data["runs"]] == [0.5, 0.55]
    stages = [s["label"] for s in data["cascade"]["stages"]]
    assert stages[:3] == ["pretrain", "mid-training (π_0)", "iteration 1 SFT"] and "iteration 2 SFT" in stages, stages
    # π_0 is the pretrained model mid-trained on synthetic composites, and the table steps from one to the other.
    from trainer.checkpoints import read_manifest, resolve

    pi0 = read_manifest(resolve(runs[0].baseline.path))
    assert pi0["stage"] == "midtrain" and pi0["step"] == 2, pi0
    assert data["cascade"]["stages"][1]["path"] == str(runs[0].baseline.path)
    assert "mid-training" in data["wall_seconds"]
    # SFT steps per iteration: iteration 2 trains on the winners of both iterations, for longer.
    assert [read_manifest(resolve(r.sft_checkpoint.path))["step"] for r in runs] == [2, 3]
    assert all("viou" in s["metrics"] and "viou" in s["metrics_se"] for s in data["cascade"]["stages"])
    assert all("viou" in s["step"] for s in data["cascade"]["stages"][1:])
    # Every comparison was made by simulated annotators through the API, and they rate the generators.
    rated = {row["name"]: row for row in data["ratings"]["generators"]}
    assert sum(row["comparisons"] for row in rated.values()) > 0 and "text_retrieval" in rated
    # Sets are ranked by more than one simulated annotator (ranking_overlap 3): more games for the ratings.
    from django.db.models import Count

    from engine.ranking.models import RankingSession

    per_set = RankingSession.objects.values("candidate_set").annotate(n=Count("id")).values_list("n", flat=True)
    assert max(per_set) > 1, list(per_set)
    # The ratings' cross-check: every player's candidates measured against the hidden true shapes.
    truth = data["truth_check"]["players"]
    assert {"text_retrieval", "flywheel-demo/base"} <= set(truth), truth
    assert all(row["n"] > 0 and 0 < row["mean"] < 1 for row in truth.values())
    assert "Cascading improvements" in out and "checkpoint" in out and "wall time: pretrain" in out
    assert (demo_suite / "cache" / "flywheel-demo").is_dir()  # π_0 is kept for the next demo
    # The same project again would mix two demos in one table.
    with pytest.raises(CommandError, match="already ran flywheel iterations"):
        call_command("flywheel", "demo", *TINY)


@pytest.mark.parametrize("args, message", [(["--alphas", "1.5"], "between 0 and 1"),
                                           (["--iterations", "0"], "at least 1"),
                                           (["--iterations", "3", "--alphas", "0.5"], "one α_k per iteration"),
                                           (["--serve", "nowhere"], "HOST:PORT"),
                                           (["--artist-delay", "-1"], "--artist-delay is seconds"),
                                           (["--ranking-overlap", "11"], "--ranking-overlap is at most 10"),
                                           (["--cond-layers", "-2"], "--cond-layers is a number of layers"),
                                           (["--midtrain-n", "-1"], "--midtrain-n must be at least 0"),
                                           (["--sft-steps", "4", "0"], "--sft-steps must each be at least 1"),
                                           (["--category-loss", "-0.5"], "--category-loss is a loss weight"),
                                           (["--best-of", "65"], "--best-of is at most 64"),
                                           (["--best-of", "-1"], "--best-of must be at least 0"),
                                           (["--replay", "/no/such/cache"], "--replay /no/such/cache: not a trainer"),
                                           (["--generators", "flow_model", "nope"], "--generators: Unknown generators: nope")])
def test_bad_demo_options_are_one_clear_message(demo_suite, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("flywheel", "demo", *TINY, *args)


def test_the_demo_trains_the_category_recipe_into_pi0_and_each_iterations_sft(demo_suite, capsys):
    """`flywheel demo --cond-layers N --category-loss W`: π_0 is pretrained with the recipe (cached apart from a
    π_0 without it), and each iteration's SFT trains its category head on the samples' Stage 1 categories."""
    from trainer.checkpoints import load_checkpoint, read_manifest, resolve

    # 64 renders (TINY's 16 name about 12 of the 20 categories) so that π_0's head knows the collected objects'
    # categories: with none of them known, SFT trains without the loss (test_iteration.py checks that path).
    call_command("flywheel", "demo", *TINY, "--pretrain-n", "64", "--iterations", "1", "--project", "recipe",
                 "--cond-layers", "1", "--category-loss", "0.5", "--cache", str(demo_suite / "cache"))
    capsys.readouterr()
    run = FlywheelRun.objects.get(project__name="recipe")
    assert run.status == RunStatus.DONE, run.error
    assert run.options["category_loss"] == 0.5
    base = resolve(run.baseline.path)
    assert "-cond1-cat0.5-" in str(run.baseline.path), run.baseline.path  # not the cache of a π_0 without it
    assert read_manifest(base)["stage"] == "midtrain"  # mid-trained with the loss too, its head kept
    pi0 = load_checkpoint(base)[0]
    assert pi0.cfg.cond_layers == 1 and pi0.cfg.categories, pi0.cfg
    assert read_manifest(base)["category_loss"]["weight"] == 0.5
    samples = run.counts["export"]["train"]["samples"]
    sft = read_manifest(resolve(run.sft_checkpoint.path))
    assert run.counts["category_loss"]["samples_in_vocabulary"] >= 1, run.counts["category_loss"]
    assert sft["category_loss"]["weight"] == 0.5 and sft["category_loss"]["rows"] == samples >= 1, sft["category_loss"]
    assert sft["model_config"]["categories"] == pi0.cfg.categories


@pytest.mark.parametrize("named", [False, True], ids=["learned", "text"])
def test_the_demo_gives_pi0_the_stage1_category_through_the_loop(demo_suite, capsys, named):
    """`flywheel demo --category-condition`: π_0 takes the category as a condition token (cached apart), our model
    proposes each Stage 2 set conditioned on its object's Stage 1 category, and SFT trains on the exported rows'
    Stage 1 categories, which the deployed checkpoint keeps; with --category-text, by the names' embeddings."""
    from engine.candidates.models import Candidate
    from trainer.checkpoints import load_checkpoint, read_manifest, resolve

    project = "named" if named else "given"
    call_command("flywheel", "demo", *TINY, "--pretrain-n", "64", "--iterations", "1", "--project", project,
                 "--category-condition", *(["--category-text"] if named else []), "--cache", str(demo_suite / "cache"))
    capsys.readouterr()
    run = FlywheelRun.objects.get(project__name=project)
    assert run.status == RunStatus.DONE, run.error
    assert "-given-" in str(run.baseline.path), run.baseline.path     # not the cache of a π_0 without it
    assert ("-named-" in str(run.baseline.path)) == named, run.baseline.path
    pi0 = load_checkpoint(resolve(run.baseline.path))[0]
    assert pi0.cfg.category_condition and pi0.cfg.categories and pi0.cfg.category_text == named, pi0.cfg
    ours = Candidate.objects.filter(candidate_set__iteration__project__name=project, generator="flow_model")
    assert ours.exists()
    for c in ours.select_related("candidate_set__object"):
        told = c.extra["category_condition"]
        category = c.candidate_set.object.category
        assert told == (category if category in pi0.cfg.categories or named else "unknown"), (told, category)
    assert any(c.extra["category_condition"] != "unknown" for c in ours)
    sft = read_manifest(resolve(run.sft_checkpoint.path))
    samples = run.counts["export"]["train"]["samples"]
    assert sft["category_condition"]["rows"] == samples >= 1 and sft["category_condition"]["rows_with_category"] >= 1
    assert sft["model_config"]["category_condition"] and sft["model_config"]["categories"] == pi0.cfg.categories
    assert sft["model_config"]["category_text"] == named
    with pytest.raises(CommandError, match="use one or the other"):
        call_command("flywheel", "demo", *TINY, "--category-condition", "--category-loss", "0.5")
    with pytest.raises(CommandError, match="add --category-condition"):
        call_command("flywheel", "demo", *TINY, "--category-text")


def test_without_mid_training_pi0_is_the_pretrained_model(demo_suite, capsys):
    """`flywheel demo --midtrain-n 0`: the loop starts from the pretrained model, and the table from π_0."""
    from trainer.checkpoints import read_manifest, resolve

    report = demo_suite / "report.json"
    call_command("flywheel", "demo", *TINY, "--midtrain-n", "0", "--iterations", "1", "--project", "no-midtrain",
                 "--report", str(report))
    capsys.readouterr()
    run = FlywheelRun.objects.get(project__name="no-midtrain")
    assert run.status == RunStatus.DONE, run.error
    assert read_manifest(resolve(run.baseline.path))["stage"] == "pretrain"
    data = json.loads(report.read_text())
    assert [s["label"] for s in data["cascade"]["stages"]][:2] == ["pretrain (π_0)", "iteration 1 SFT"]
    assert "mid-training" not in data["wall_seconds"]


def test_the_demo_runs_from_a_given_pi0(demo_suite, base_checkpoint, capsys):
    """`flywheel demo --base CKPT`: π_0 is that checkpoint (a trainer bench's, say), nothing is pretrained, the loop
    trains from it and the table starts at it; a checkpoint that is not one, or of another preset's grid, is refused
    before the demo creates anything."""
    from engine.core.models import Project
    from trainer.checkpoints import resolve

    call_command("flywheel", "demo", *TINY, "--iterations", "1", "--project", "given-base", "--base",
                 str(base_checkpoint), "--cache", str(demo_suite / "cache"), "--report", str(demo_suite / "r.json"))
    out = capsys.readouterr().out
    run = FlywheelRun.objects.get(project__name="given-base")
    assert run.status == RunStatus.DONE, run.error
    assert run.baseline.path.rstrip("/") == str(resolve(base_checkpoint)) and run.sft_checkpoint.parent == run.baseline
    report = json.loads((demo_suite / "r.json").read_text())
    assert "pretrain" not in report["wall_seconds"] and "mid-training" not in report["wall_seconds"]
    assert report["config"]["base"] == str(base_checkpoint) and "the given checkpoint" in out
    # no --replay: the demo names the data π_0 was trained on, to replay beside the few collected rows
    assert f"--replay {base_checkpoint.parent / 'render'}" in out
    assert [s["label"] for s in report["cascade"]["stages"]][:2] == ["given (π_0)", "iteration 1 SFT"]
    assert not (demo_suite / "cache").exists() or not any((demo_suite / "cache").glob("pretrain-*"))
    for args, message in (([str(demo_suite / "nothing")], "is not a trainer checkpoint"),
                          ([str(base_checkpoint), "--config", "cpu"], "pass the --config it was trained with"),
                          ([str(base_checkpoint), "--category-condition"], "drop --category-condition")):
        with pytest.raises(CommandError, match=message):
            call_command("flywheel", "demo", *TINY, "--project", "refused", "--base", *args)
    assert not Project.objects.filter(name="refused").exists()
