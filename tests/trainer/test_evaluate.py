import json

import numpy as np
import pytest

from trainer.config import EvalConfig
from trainer.evaluate import compare, evaluate, score_sample


def cube(lo, hi, g=16):
    occ = np.zeros((g, g, g), np.float32)
    occ[lo:hi, lo:hi, lo:hi] = 1
    return occ


def test_a_perfect_prediction_scores_perfectly():
    occ, pose = cube(4, 12), (np.eye(3), np.array([0, 0, 3.0]), 1.0)
    r = score_sample(occ, occ, pose, pose, True, 2000, 128, True)
    assert r["f1@0.01"] == 1.0 and r["viou"] == 1.0 and r["chamfer"] < 1e-9
    assert r["box_iou"] == pytest.approx(1.0) and r["add_s"] == 0.0 and r["rot_err_deg"] < 1e-3


def test_an_empty_prediction_scores_worst():
    pose = (np.eye(3), np.zeros(3), 1.0)
    r = score_sample(np.zeros((16, 16, 16)), cube(4, 12), pose, pose, False, 500, 64, True)
    assert r["empty"] == 1.0 and r["f1@0.01"] == 0.0 and r["chamfer"] == pytest.approx(2 * 3 ** 0.5)


def test_compare_knows_metric_directions():
    a = {"metrics": {"f1@0.01": 0.5, "chamfer": 0.1}, "rows": [{"chamfer": 0.1}, {"chamfer": 0.3}]}
    b = {"metrics": {"f1@0.01": 0.4, "chamfer": 0.2}, "rows": [{"chamfer": 0.2}, {"chamfer": 0.2}]}
    c = compare(a, b)
    assert c["better"] == {"f1@0.01": True, "chamfer": True} and c["win_rate_chamfer"] == 0.5


def test_compare_gives_paired_standard_errors_and_a_two_se_flag():
    rows = lambda xs: [{"chamfer": x} for x in xs]
    steady = compare({"metrics": {"chamfer": 0.2}, "rows": rows([0.1, 0.2, 0.3])},
                     {"metrics": {"chamfer": 0.4}, "rows": rows([0.3, 0.4, 0.5])})
    # every row improves by exactly 0.2: the paired error is 0, although each mean's own is 0.058
    assert steady["delta_se"]["chamfer"] == pytest.approx(0.0) and steady["better_2se"] == {"chamfer": True}
    noisy = compare({"metrics": {"chamfer": 0.3}, "rows": rows([0.1, 0.5])},
                    {"metrics": {"chamfer": 0.35}, "rows": rows([0.3, 0.4])})
    # differences -0.2 and +0.1: sample std 0.212, over sqrt(2) rows 0.15 > |delta| / 2
    assert noisy["delta_se"]["chamfer"] == pytest.approx(0.15)
    assert noisy["better"] == {"chamfer": True} and noisy["better_2se"] == {"chamfer": False}


@pytest.mark.slow
def test_report_compares_two_checkpoints(tmp_path, tiny_ckpt, tiny_cache):
    out = tmp_path / "report.json"
    evaluate(EvalConfig(ckpt=str(tiny_ckpt), baseline=str(tiny_ckpt), data=str(tiny_cache), out=str(out),
                        n=2, points=500, emd_points=64, progress=False))
    report = json.loads(out.read_text())
    assert report["n"] == 2 and report["ckpt"]["hash"] == report["baseline"]["hash"]
    assert set(report["delta"]) >= {"f1@0.01", "viou", "chamfer", "emd"}
    assert all(v == 0 for v in report["delta"].values()) and report["win_rate_chamfer"] == 0.0
    assert all(v == 0 for v in report["delta_se"].values()) and not any(report["better_2se"].values())
    assert set(report["ckpt"]["metrics_se"]) == set(report["ckpt"]["metrics"])
