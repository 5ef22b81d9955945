import numpy as np

from trainer.pairs import EMPTY_PENALTY, occupancy_chamfer


def cube(lo, hi, g=16):
    occ = np.zeros((g, g, g), np.float32)
    occ[lo:hi, lo:hi, lo:hi] = 1
    return occ


def test_identical_occupancies_have_zero_chamfer():
    assert occupancy_chamfer(cube(4, 12), cube(4, 12)) < 1e-9


def test_a_closer_shape_scores_lower():
    gt = cube(4, 12)
    assert occupancy_chamfer(cube(4, 11), gt) < occupancy_chamfer(cube(2, 6), gt) < EMPTY_PENALTY


def test_empty_samples_get_the_penalty():
    assert occupancy_chamfer(np.zeros((16, 16, 16)), cube(4, 12)) == EMPTY_PENALTY


def test_truth_pairs_choose_the_ground_truth_over_the_worst_sample(tmp_path, tiny_ckpt, tiny_cache):
    import pytest

    from trainer.checkpoints import load_checkpoint
    from trainer.data.loader import open_dataset
    from trainer.pairs import make_self_pairs
    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), 16, 32, progress=False).subset(range(3))
    index = make_self_pairs(model, data, str(tmp_path / "pairs"), k=2, steps=2, progress=False, chosen="truth")
    pairs = open_dataset(str(tmp_path / "pairs"), 16, 32, kind="pairs", progress=False)
    assert index["chosen"] == "truth" and index["mean_chamfer_gap"] > 0
    b = pairs.batch(list(range(len(pairs))))
    assert all(any((b["occ"][i] == data.batch([j])["occ"][0]).all() for j in range(3)) for i in range(len(pairs)))
    with pytest.raises(ValueError, match="'best'"):
        make_self_pairs(model, data, str(tmp_path / "x"), chosen="winner")
