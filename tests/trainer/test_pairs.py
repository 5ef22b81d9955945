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
