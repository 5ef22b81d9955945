"""The best-of-N bench: our model's samples ranked several ways, scored against the composites' hidden truth."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from trainer.checkpoints import save_checkpoint
    from trainer.config import model_config
    from trainer.model import FlowModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "step-0000000"
    save_checkpoint(path, FlowModel(model_config("tiny")), None, {"stage": "sft", "step": 0, "sampler": {"steps": 2}})
    return path


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    from model_suite import library, procedural

    root = tmp_path_factory.mktemp("library")
    procedural.generate_shapes(root / "src", 40, seed=0)  # two of each category
    library.import_directory(root / "src", root / "lib")
    return root / "lib"


def test_the_bench_scores_every_ranking_against_the_truth_and_retrieval(checkpoint, library_dir, tmp_path, capsys):
    out = tmp_path / "best_of.json"
    call_command("bench_best_of", checkpoint=str(checkpoint), library=str(library_dir), objects=3, best_of=4, keep=2,
                 out=str(out), verbosity=0)
    report = json.loads(out.read_text())
    assert report == json.loads(capsys.readouterr().out)
    assert report["objects"] >= 1 and (report["best_of"], report["keep"]) == (4, 2)
    rankings = report["rankings"]
    assert set(rankings) == {"seed_order", "mask_iou", "category_fit", "oracle", "voxelized_truth", "consensus",
                             "text_retrieval"}
    # The consensus of the 4 samples is one shape per object, read against the 2 the category fit keeps.
    agreed = rankings.pop("consensus")
    assert agreed["objects"] == report["objects"] and agreed["distance"]["mean"] > 0
    assert agreed["minus_category_fit_kept"]["mean"] == pytest.approx(
        agreed["distance"]["mean"] - rankings["category_fit"]["kept_distance"]["mean"], abs=2e-4)
    assert 0 <= agreed["beats_category_fits_best_kept"]["mean"] <= 1
    # The truth through the model's grid (16³ here) stays nearer itself than any untrained sample.
    assert rankings["voxelized_truth"]["kept_distance"]["mean"] < rankings["oracle"]["best_kept_distance"]["mean"]
    # The oracle keeps the truly nearest: never further than any other ranking, on every figure.
    for name in ("seed_order", "mask_iou", "category_fit"):
        assert rankings["oracle"]["kept_distance"]["mean"] <= rankings[name]["kept_distance"]["mean"]
        assert rankings["oracle"]["best_kept_distance"]["mean"] <= rankings[name]["best_kept_distance"]["mean"]
    assert rankings["seed_order"]["kept_distance_minus_seed_order"]["mean"] == 0
    assert all(np.isfinite(v["kept_distance"]["mean"]) and v["kept_distance"]["mean"] > 0 for v in rankings.values())


def test_the_consensus_is_read_against_the_fits_kept_shapes_and_retrievals():
    from engine.loadtest.best_of_bench import summarize

    sample = lambda d, fit: {"distance": d, "mask_iou": 0.5, "category_fit": fit, "implicit_reward": None}
    rows = [{"samples": [sample(0.3, 1.0), sample(0.2, 0.9), sample(0.1, 0.1)], "retrieval": [0.15, 0.4],
             "consensus": 0.12},
            {"samples": [sample(0.2, 1.0), sample(0.4, 0.5)], "retrieval": [0.3, 0.5], "consensus": 0.35},
            {"samples": [sample(0.2, 1.0), sample(0.4, 0.5)], "retrieval": [0.3], "consensus": None}]  # empty
    agreed = summarize(rows, 2)["rankings"]["consensus"]
    assert agreed["objects"] == 2 and agreed["distance"]["mean"] == pytest.approx(0.235)
    # the fit keeps (0.3, 0.2) and (0.2, 0.4): means 0.25 and 0.3, bests 0.2 and 0.2
    assert agreed["minus_category_fit_kept"]["mean"] == pytest.approx(((0.12 - 0.25) + (0.35 - 0.3)) / 2)
    assert agreed["beats_category_fits_best_kept"]["mean"] == 0.5
    assert agreed["beats_retrievals_best"]["mean"] == 0.5 and agreed["beats_retrievals_mean"]["mean"] == 1.0


def test_a_dpo_checkpoint_adds_its_implicit_reward_as_a_ranking(checkpoint, library_dir, tmp_path):
    from trainer.checkpoints import save_checkpoint
    from trainer.config import model_config
    from trainer.model import FlowModel

    torch.manual_seed(1)
    dpo = save_checkpoint(tmp_path / "dpo", FlowModel(model_config("tiny")), None,
                          {"stage": "dpo", "step": 1, "ref": str(checkpoint), "beta": 0.5, "sampler": {"steps": 2}})
    out = tmp_path / "best_of.json"
    call_command("bench_best_of", checkpoint=str(dpo), library=str(library_dir), objects=2, best_of=3, keep=1,
                 out=str(out), verbosity=0)
    rankings = json.loads(out.read_text())["rankings"]
    assert rankings["oracle"]["kept_distance"]["mean"] <= rankings["implicit_reward"]["kept_distance"]["mean"]


def test_bad_bench_options_are_one_clear_message(checkpoint, library_dir, tmp_path):
    with pytest.raises(CommandError, match="--best-of at least --keep"):
        call_command("bench_best_of", checkpoint=str(checkpoint), library=str(library_dir), best_of=2, keep=3)
    with pytest.raises(CommandError, match="--checkpoint"):
        call_command("bench_best_of", checkpoint=str(tmp_path / "missing"), library=str(library_dir))
    with pytest.raises(CommandError, match="--library: no shapes"):
        call_command("bench_best_of", checkpoint=str(checkpoint), library=str(tmp_path / "empty"))


def test_a_library_without_the_objects_categories_is_said_not_hidden(checkpoint, tmp_path):
    """The category fit keeps seed order where the library has no shape of an object's category; the report says
    how many objects that was, rather than passing seed order off as the fit's."""
    from model_suite import library, procedural

    procedural.generate_shapes(tmp_path / "src", 2, seed=0, categories=procedural.CATEGORIES[:1])
    library.import_directory(tmp_path / "src", tmp_path / "lib")
    out = tmp_path / "best_of.json"
    call_command("bench_best_of", checkpoint=str(checkpoint), library=str(tmp_path / "lib"), objects=3, best_of=3,
                 keep=1, out=str(out), verbosity=0)
    report = json.loads(out.read_text())
    fit = report["rankings"]["category_fit"]
    # Objects 2 and 3 are of the 2nd and 3rd categories (the shapes cycle them), which this library lacks.
    assert 1 <= fit["objects_without_library_category"] < report["objects"] and "seed order" in fit["note"], fit
