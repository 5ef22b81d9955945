"""The category probe: its fit separates what is separable, its pooling reads the mask, and it runs on caches."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trainer import probe
from trainer.data.cache import shape_names
from trainer.data.loader import open_dataset
from trainer.references import row_categories


def test_the_fit_separates_separable_classes_and_not_shuffled_ones():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, size=(3, 5))
    y = np.repeat(np.arange(3), 40)
    x = centres[y] + rng.normal(size=(120, 5))
    w = probe.fit(x[::2], y[::2], 3, l2=1e-3)
    assert (probe.predict(w, x[1::2]) == y[1::2]).mean() > 0.95
    # With labels unrelated to the features the held-out accuracy falls to about chance.
    noise = rng.permutation(y)
    w = probe.fit(x[::2], noise[::2], 3, l2=1e-3)
    assert (probe.predict(w, x[1::2]) == noise[1::2]).mean() < 0.6


def test_pooling_weights_the_tokens_by_the_mask():
    tokens = torch.zeros(1, 4, 2)                       # a 2 x 2 token grid
    tokens[0, 0] = torch.tensor([8.0, 8.0])             # the top-left token
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1                               # covers exactly the top-left token
    out = probe.pooled(tokens, mask)
    assert out.tolist() == [[2.0, 2.0, 8.0, 8.0]]       # mean over the grid, then the mean inside the mask


def test_the_probe_runs_on_a_checkpoints_tokens(tiny_cache, tiny_ckpt):
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    cats = row_categories(ds, shape_names(tiny_cache))
    report = probe.category_probe(ds, ds, cats, cats, ckpt=str(tiny_ckpt))
    assert report["train_rows"] == report["eval_rows"] == len(ds)
    assert report["categories"] == len(set(cats))
    assert 0.0 <= report["accuracy"] <= 1.0 and report["accuracy_se"] >= 0.0
    # The probe's own training rows are nearly separable through 2 x 2 x 64 pooled features.
    assert report["train_accuracy"] > 0.9


def test_a_held_out_category_unknown_to_training_is_a_clear_error(tiny_cache, tiny_ckpt):
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    cats = row_categories(ds, shape_names(tiny_cache))
    train_cats = ["chair" if c == "lamp" else c for c in cats]
    with pytest.raises(ValueError, match="lamp"):
        probe.category_probe(ds, ds, train_cats, cats, ckpt=str(tiny_ckpt))


def test_the_command_says_what_is_wrong_without_a_stack_trace(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        probe.main(["--train", str(tmp_path), "--eval", str(tmp_path)])
    assert e.value.code == 2
    assert "is not a data cache" in capsys.readouterr().err


def test_python_m_trainer_probe_prints_the_report(tiny_cache, tiny_ckpt, capsys):
    from trainer.cli import run
    assert run(["probe", "--train", str(tiny_cache), "--eval", str(tiny_cache), "--ckpt", str(tiny_ckpt),
                "--n-eval", "8"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["eval_rows"] == 8 and report["features"] == f"checkpoint {tiny_ckpt}"
