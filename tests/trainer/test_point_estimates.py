"""The fair comparisons of issue 18: the model's point estimate (consensus of K samples) and the category's
random training instance (a sampler that knows only the category)."""
import json

import numpy as np
import pytest

from trainer.data.arrays import ArrayDataset
from trainer.data.pack import pack_occ
from trainer.evaluate import consensus, consensus_samples, evaluate_consensus, evaluate_model
from trainer.references import SAMPLER_FLOORS, floor_to_ceiling, random_instances, training_occupancies


def box(lo, hi, g=8):
    occ = np.zeros((g, g, g), np.float32)
    occ[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 1
    return occ


def test_the_consensus_of_identical_samples_is_that_sample():
    probs = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    assert np.array_equal(consensus(probs[None]), probs)                     # probabilities and all: scored alike
    for k in (2, 4, 5):
        out = consensus(np.stack([probs] * k))
        assert np.array_equal(out >= 0.5, probs >= 0.5) and np.allclose(out, probs, atol=1e-6)
    assert (consensus(np.zeros((3, 8, 8, 8))) < 0.5).all()                    # empty samples: an empty estimate


def test_the_consensus_keeps_the_mean_volume_of_the_most_voted_voxels():
    tall, wide = box((0, 0, 0), (2, 4, 2)), box((0, 0, 0), (4, 2, 2))          # 16 voxels each, 8 shared
    out = consensus(np.stack([tall, tall, wide])) >= 0.5
    assert out.sum() == 16 and out[tall > 0].all()                            # the majority's voxels, its volume
    # one sample far from two that agree: the estimate is theirs, not a blend
    odd = box((4, 4, 4), (8, 8, 8))                                           # 64 voxels, none shared
    out = consensus(np.stack([tall, tall, odd])) >= 0.5
    assert out.sum() == 32 and out[tall > 0].all()                            # mean volume 32: 16 + 16 of odd's
    # ties among voxels of equal vote go to the higher mean probability, not the lower index
    a, b = np.zeros((8, 8, 8), np.float32), np.zeros((8, 8, 8), np.float32)
    a[0, 0, 0], b[7, 7, 7] = 0.6, 0.9
    out = consensus(np.stack([a, b])) >= 0.5
    assert out[7, 7, 7] and out.sum() == 1


def test_the_consensus_samples_are_the_stage_tables_samples_of_each_seed(tiny_ckpt, tiny_cache):
    from trainer.checkpoints import load_checkpoint
    from trainer.data.loader import open_dataset
    from trainer.data.views import views_to_tensor
    from trainer.sampling import sample_views
    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), 16, 32, progress=False)
    views = views_to_tensor(data.batch([0, 1, 2])["views"])
    probs = consensus_samples(model, views, 3, seed=5, steps=4)
    assert probs.shape == (3, 3, 16, 16, 16)
    for j in range(3):
        alone = sample_views(model, views, 5 + j, steps=4)[0].numpy()
        assert np.array_equal(probs[:, j], alone)
    # K = 1 scores exactly the single sample of the seed, row by row
    one = evaluate_consensus(model, data, n=3, k=1, steps=4, points=500, emd_points=32, progress=False)
    single = evaluate_model(model, data, n=3, steps=4, points=500, emd_points=32, progress=False)
    for a, b in zip(one["rows"], single["rows"]):
        assert a["viou"] == b["viou"] and a["chamfer"] == pytest.approx(b["chamfer"])
    assert one["seeds"] == [0] and one["score_sec_per_item"] > 0


def categorised(occs, cats):
    arrays = {"occ": pack_occ(np.stack(occs) > 0), "views": np.zeros((len(occs), 2, 4, 4, 4), np.uint8)}
    return ArrayDataset(arrays, 8, 4, "test"), cats


def test_the_random_instance_is_a_distinct_training_shape_of_the_rows_category_fixed_by_the_seed():
    lamps = [box((0, 0, 0), (2, 2, h)) for h in (2, 3, 4, 5)]
    tables = [box((0, 0, 0), (w, w, 1)) for w in (3, 4, 5)]
    # every lamp shape twice (as composites repeat shapes): draws are over distinct shapes, not rows
    train, cats = categorised(lamps + lamps + tables, ["lamp"] * 8 + ["table"] * 3)
    heldout = ["table", "lamp", "lamp", "table", "lamp"] * 8
    picks = random_instances(train, cats, heldout, len(heldout), draws=(0, 1, 2))
    for d in picks:
        assert [cats[r] for r in d] == heldout
        assert all(r not in (4, 5, 6, 7) for r in d)                          # repeated rows are never drawn
    assert picks == random_instances(train, cats, heldout, len(heldout), draws=(0, 1, 2))
    assert random_instances(train, cats, heldout, 5, draws=(1,))[0] == picks[1][:5]   # (draw, row) alone fixes it
    assert picks[0] != picks[1]
    lamp_draws = {r for d in picks for r, c in zip(d, heldout) if c == "lamp"}
    assert lamp_draws == {0, 1, 2, 3}                                         # 72 draws see every lamp
    occ = training_occupancies(train, picks[0][:2])
    assert np.array_equal(occ[1], lamps[picks[0][1]]) and occ.dtype == np.float32
    with pytest.raises(KeyError):
        random_instances(train, cats, ["vase"], 1)


def test_a_sample_is_read_against_the_random_instance_when_asked():
    refs = {"mean_shape": {"viou": 0.2}, "category_mean_shape": {"viou": 0.6},
            "category_random_instance": {"viou": 0.4}, "vae_reconstruction": {"viou": 0.8}}
    assert floor_to_ceiling({"viou": 0.6}, refs, keys=("viou",))["viou"] == pytest.approx(0.0)
    assert floor_to_ceiling({"viou": 0.6}, refs, keys=("viou",), floors=SAMPLER_FLOORS)["viou"] == pytest.approx(0.5)
    assert floor_to_ceiling({"viou": 0.6}, {"vae_reconstruction": {"viou": 0.8}}, floors=SAMPLER_FLOORS) == {}


def test_evaluate_prints_the_consensus_as_json(tmp_path, tiny_ckpt, tiny_cache, capsys):
    from trainer.cli import main
    out = tmp_path / "r.json"
    assert main(["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(tiny_cache), "--n", "3", "--consensus", "2",
                 "--points", "500", "--emd-points", "32", "--no-progress", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[-1])["consensus"]
    assert printed["k"] == 2 and printed["seeds"] == [0, 1] and printed["n"] == 3
    assert {"viou", "chamfer"} <= set(printed["metrics"]) and "viou" in printed["over_one_sample"]
    assert json.loads(out.read_text())["consensus"]["metrics"] == printed["metrics"]


def test_evaluate_reads_the_sample_and_the_consensus_against_the_goals_floors(tmp_path, tiny_ckpt, tiny_cache, capsys):
    """`evaluate --floors TRAIN`: the floors of issue 18's goal on the same rows, and the checkpoint against each,
    paired per row (here the training cache is the held-out one, so every category has its floors)."""
    from trainer.cli import main
    out = tmp_path / "r.json"
    assert main(["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(tiny_cache), "--n", "4", "--consensus", "2",
                 "--floors", str(tiny_cache), "--points", "500", "--emd-points", "32", "--no-progress",
                 "--out", str(out)]) == 0
    floors = json.loads(capsys.readouterr().out.splitlines()[-1])["floors"]
    report = json.loads(out.read_text())
    assert floors == report["floors"] and floors["n"] == 4 and floors["notes"] == []
    names = {"mean_shape", "category_mean_shape", "category_random_instance"}
    assert set(floors["rows"]) == set(floors["sample_minus"]) == set(floors["consensus_minus"]) == names
    for name in names:   # one seed: the paired delta is the difference of the means
        assert floors["sample_minus"][name]["delta"]["viou"] == pytest.approx(
            report["ckpt"]["metrics"]["viou"] - floors["rows"][name]["viou"])
        assert floors["consensus_minus"][name]["delta"]["chamfer"] == pytest.approx(
            report["consensus"]["metrics"]["chamfer"] - floors["rows"][name]["chamfer"])
    # the floors are ICP-aligned, as the bench's: a sample scored without ICP would not be like with like
    assert main(["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(tiny_cache), "--n", "2", "--floors",
                 str(tiny_cache), "--no-icp", "--no-progress", "--out", str(tmp_path / "x.json")]) == 2
    assert "--floors" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    # a training cache that is not there fails before anything is sampled, and writes nothing
    import trainer.evaluate

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before the floors' cache was opened")

    real, trainer.evaluate.evaluate_model = trainer.evaluate.evaluate_model, no_sampling
    try:
        assert main(["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(tiny_cache), "--n", "2", "--floors",
                     str(tmp_path / "missing"), "--no-progress", "--out", str(tmp_path / "y.json")]) == 2
    finally:
        trainer.evaluate.evaluate_model = real
    assert "missing" in capsys.readouterr().err and not (tmp_path / "y.json").exists()
