import json

import numpy as np
import pytest
import torch

from trainer.config import EvalConfig
from trainer.evaluate import compare, evaluate, image_use, paired, score_sample, shuffled_rows


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


def test_shuffled_rows_show_every_image_once_and_never_the_rows_own():
    for n in (2, 3, 96):
        shown = shuffled_rows(n)
        assert sorted(shown) == list(range(n)) and all(shown[i] != i for i in range(n))


def test_paired_averages_seeds_within_a_row_before_the_standard_error():
    a = [[{"viou": 0.5}, {"viou": 0.7}], [{"viou": 0.7}, {"viou": 0.9}]]     # [seed][row]
    b = [[{"viou": 0.4}, {"viou": 0.4}], [{"viou": 0.4}, {"viou": 0.4}]]
    delta, se = paired(a, b)
    # per-row differences averaged over seeds: 0.2 and 0.4; mean 0.3, std 0.141 / sqrt(2) = 0.1
    assert delta["viou"] == pytest.approx(0.3) and se["viou"] == pytest.approx(0.1)


class Blind(torch.nn.Module):
    """An image encoder that sees nothing: the same tokens whatever the image."""

    def __init__(self, tokens, dim):
        super().__init__()
        self.tokens, self.dim = tokens, dim

    def forward(self, views):
        return torch.ones(views.shape[0], self.tokens, self.dim)


@pytest.mark.slow
def test_a_model_that_ignores_its_image_has_no_shuffled_image_gap(tiny_ckpt, tiny_cache):
    from trainer.checkpoints import load_checkpoint
    from trainer.data.loader import open_dataset
    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), 16, 32, progress=False)
    model.encoder = Blind(2 * (32 // 8) ** 2, model.cfg.dim)
    use = image_use(model, data, n=4, seeds=(0, 1), points=500, emd_points=32, progress=False)
    assert use["gap"]["viou"] == 0.0 and use["gap_se"]["viou"] == 0.0
    assert use["gap"]["chamfer"] == 0.0 and len(use["rows"]["none"]) == 2 and len(use["rows"]["none"][0]) == 4


@pytest.mark.slow
def test_the_unconditional_sampler_does_not_depend_on_the_image(tiny_ckpt, tiny_cache):
    from trainer.checkpoints import load_checkpoint
    from trainer.data.loader import open_dataset
    from trainer.data.views import views_to_tensor
    from trainer.sampling import sample_views
    model, _ = load_checkpoint(tiny_ckpt)
    views = views_to_tensor(open_dataset(str(tiny_cache), 16, 32, progress=False).batch([0, 1, 2])["views"])
    a = sample_views(model, views, 3, steps=4, unconditional=True)[0]
    b = sample_views(model, views.flip(0), 3, steps=4, unconditional=True)[0]
    c = sample_views(model, views.flip(0), 3, steps=4)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
