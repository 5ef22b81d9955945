import json

import numpy as np
import pytest
import torch
from PIL import Image

from trainer.cli import main, parser


def test_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("prepare", "pretrain", "sft", "dpo", "distill", "evaluate", "sample", "bench"):
        assert cmd in out


def test_flags_come_from_the_config_fields():
    args = parser().parse_args(["dpo", "--beta", "250", "--sft-weight", "0.5", "--no-resume", "--data", "a", "b"])
    assert (args.beta, args.sft_weight, args.resume, args.data) == (250.0, 0.5, False, ["a", "b"])


@pytest.mark.parametrize("argv,message", [
    (["sft", "--config", "huge"], "unknown --config 'huge'"),
    (["sft", "--data", "/nope"], "is not a data cache"),
    (["dpo", "--data", "/nope"], "DPO needs --init"),
    (["evaluate"], "evaluate needs --ckpt"),
    (["prepare", "--kind", "video", "--out", "/tmp/x"], "unknown data kind 'video'"),
    (["distill", "--teacher-start-frac", "2"], "teacher_start_frac is a share between 0 and 1, got 2.0"),
    (["distill", "--shortcut-frac", "-0.5"], "shortcut_frac is a share between 0 and 1, got -0.5"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_a_cuda_device_without_a_gpu_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["pretrain", "--config", "tiny", "--device", "cuda", "--out", str(tmp_path / "r"),
                 "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "Traceback" not in err


def test_sampling_from_a_file_that_is_not_an_image_is_one_clear_line(tmp_path, tiny_ckpt, capsys):
    (tmp_path / "i.png").write_text("not a png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "m.png")
    assert main(["sample", "--ckpt", str(tiny_ckpt), "--image", str(tmp_path / "i.png"),
                 "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "--image" in err and "not a readable image" in err and not (tmp_path / "s").exists()


def test_prepare_then_pretrain_then_sample(tmp_path, capsys):
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["prepare", "--config", "tiny", "--out", str(data), "--n", "8", "--primitives", "2"]) == 0
    assert main(["pretrain", "--config", "tiny", "--out", str(run), "--data", str(data), "--steps", "2",
                 "--vae-steps", "2", "--no-progress"]) == 0
    manifest = json.loads((run / "step-0000002" / "manifest.json").read_text())
    assert manifest["config"]["batch_size"] == 8 and manifest["stage"] == "pretrain"   # the tiny preset
    image = np.full((24, 24, 3), 80, np.uint8)
    mask = np.zeros((24, 24), np.uint8)
    mask[6:18, 6:18] = 255
    Image.fromarray(image).save(tmp_path / "i.png")
    Image.fromarray(mask).save(tmp_path / "m.png")
    assert main(["sample", "--ckpt", str(run), "--image", str(tmp_path / "i.png"), "--mask", str(tmp_path / "m.png"),
                 "--n", "2", "--steps", "2", "--out", str(tmp_path / "s")]) == 0
    r = np.load(tmp_path / "s" / "sample-01.npz")
    assert r["occupancy"].shape == (16, 16, 16) and r["rotation"].shape == (3, 3)


def test_prepare_pairs_from_a_checkpoint(tmp_path, tiny_ckpt, tiny_cache):
    out = tmp_path / "pairs"
    assert main(["prepare", "--config", "tiny", "--kind", "pairs", "--ckpt", str(tiny_ckpt), "--source", str(tiny_cache),
                 "--n", "4", "--pair-samples", "4", "--pair-steps", "2", "--out", str(out)]) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["kind"] == "pairs" and 0 < index["n"] <= 4 and index["mean_chamfer_gap"] > 0


def test_bench_reference_rows_score_both_bounds_with_the_stage_metrics(tiny_ckpt, tiny_cache):
    from trainer.bench import reference_rows
    from trainer.checkpoints import load_checkpoint
    from trainer.data.loader import open_dataset
    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), 16, 32, progress=False)
    rows = reference_rows(model, data, data, n=2, points=2000)
    assert set(rows) == {"vae_reconstruction", "mean_shape", "nearest_training_shape"}   # no categories given
    metrics = {"f1@0.01", "f1@0.05", "viou", "chamfer", "emd", "empty"}
    assert set(rows["mean_shape"]) == metrics | {f"{k}_se" for k in metrics}
    assert 0.0 <= rows["mean_shape"]["viou"] <= 1.0 and 0.0 <= rows["vae_reconstruction"]["viou"] <= 1.0


def test_bench_sampler_figures_pair_both_samplers_on_the_same_rows_and_seeds(tiny_ckpt, tiny_cache):
    from trainer.bench import sampler_figures
    from trainer.checkpoints import load_checkpoint
    from trainer.data.loader import open_dataset
    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), 16, 32, progress=False)
    out, first = sampler_figures(model, data, n=2, reps=1, seeds=(0, 1))
    assert len(first) == 2 and out["viou_samples"] == 4                       # 2 rows x 2 seeds, both samplers on each
    rel = (out["shortcut_viou"] - out["flow_viou"]) / max(out["flow_viou"], 1e-9)
    assert abs(out["shortcut_viou_rel_diff"] - rel) < 1e-9
    assert out["shortcut_viou_rel_diff_se"] >= 0.0 and 0.0 < out["shortcut_over_flow_time"]


def test_agreement_rows_have_known_answers():
    from trainer.bench import agreement_rows
    lat = torch.randn(3, 2, 4, 4, 4)
    occ = np.zeros((3, 4, 4, 4), bool)
    occ[:, :2] = True
    other = np.zeros_like(occ)
    other[0, :2], other[1, 1:3] = True, True                 # the same set; half of it; nothing
    rows = agreement_rows(torch.stack([lat[0], 2 * lat[1], lat[2]]), lat, occ, other)
    assert np.allclose(rows["latent_rel_sq_err"], [0.0, 1.0, 0.0])   # a = b; a = 2b: |b|^2 / |b|^2
    assert np.allclose(rows["voxel_iou"], [1.0, 1 / 3, 0.0])
    empty = np.zeros((1, 4, 4, 4), bool)
    assert agreement_rows(lat[:1], lat[:1], empty, empty)["voxel_iou"].tolist() == [1.0]


def test_bench_sampler_agreement_compares_the_two_samplers_of_one_checkpoint(tiny_ckpt, tiny_cache):
    from trainer.bench import sampler_agreement
    from trainer.checkpoints import load_checkpoint
    from trainer.data.loader import open_dataset
    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), 16, 32, progress=False)
    out = sampler_agreement(model, data, n=3, batch_size=2)
    assert out["rows"] == 3 and 0.0 <= out["voxel_iou"] <= 1.0 and out["latent_rel_sq_err"] > 0.0
    assert out == sampler_agreement(model, data, n=3, batch_size=2)   # the noise is fixed by the seed


def _config(argv):
    from trainer.cli import config_for
    return config_for(parser().parse_args(argv))


def test_a_json_config_gives_defaults_and_flags_win(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"config": "cpu", "steps": 7, "batch_size": 4, "data": ["a"], "stage": "midtrain"}))
    cfg = _config(["sft", "--config", str(f), "--steps", "9"])
    assert (cfg.config, cfg.steps, cfg.batch_size, cfg.data, cfg.stage) == ("cpu", 9, 4, ["a"], "midtrain")
    assert cfg.log_every == 25                                   # the cpu preset named in the file
    f.write_text(json.dumps({"data": "/held-out", "n": 3, "icp": False}))
    cfg = _config(["evaluate", "--config", str(f), "--ckpt", "runs/x"])
    assert (cfg.ckpt, cfg.data, cfg.n, cfg.icp) == ("runs/x", "/held-out", 3, False)
    f.write_text(json.dumps({"ckpt": "runs/x", "image": "i.png", "mask": "m.png", "steps": 2}))
    cfg = _config(["sample", "--config", str(f), "--n", "1"])
    assert (cfg.ckpt, cfg.image, cfg.steps, cfg.n, cfg.mode) == ("runs/x", "i.png", 2, 1, "flow")
    f.write_text(json.dumps({"config": "tiny", "n": 5}))
    cfg = _config(["prepare", "--config", str(f)])
    assert (cfg.n, cfg.grid, cfg.image_size) == (5, 16, 32)       # the tiny data preset named in the file


@pytest.mark.parametrize("config", [None, "{}"])
def test_prepare_and_the_stages_default_to_one_preset(config, tmp_path):
    """Without a preset, `prepare` writes the grid and view size the training stages' model expects."""
    from trainer.config import model_config
    extra = []
    if config is not None:
        (tmp_path / "c.json").write_text(config)
        extra = ["--config", str(tmp_path / "c.json")]
    data = _config(["prepare", *extra])
    model = model_config(_config(["pretrain", *extra]).config)
    assert (data.grid, data.image_size) == (model.grid, model.image_size)


def test_a_checkpoint_config_repeats_the_run(tiny_ckpt, tiny_cache, tmp_path):
    step = (tiny_ckpt / "last").read_text().strip()
    saved = json.loads((tiny_ckpt / step / "manifest.json").read_text())["config"]
    for where in (tiny_ckpt / "last", tiny_ckpt, tiny_ckpt / step / "manifest.json"):
        cfg = _config(["sft", "--config", str(where), "--out", str(tmp_path / "again")])
        assert (cfg.steps, cfg.lr, cfg.batch_size, cfg.data, cfg.seed) == (
            saved["steps"], saved["lr"], saved["batch_size"], [str(tiny_cache)], saved["seed"])
        assert cfg.out == str(tmp_path / "again") and cfg.stage == "sft"   # the command names the stage
    cfg = _config(["dpo", "--config", str(tiny_ckpt)])          # only the fields DPOConfig has, not the stage
    assert (cfg.steps, cfg.stage, cfg.beta) == (saved["steps"], "dpo", 500.0)


@pytest.mark.parametrize("argv,content,message", [
    (["sft"], {"steps": 3, "stepz": 4, "lrr": 1}, "TrainConfig has no field 'lrr', 'stepz'"),
    (["sft"], {"steps": "3"}, "steps must be int, not '3'"),
    (["sample"], {"ckpt": "x", "mode": "fast"}, "unknown mode 'fast'"),
    (["evaluate"], "{not json", "is not valid JSON"),
    (["evaluate"], [1, 2], "holds a JSON list"),
    (["prepare"], {"config": "huge"}, "unknown preset 'huge'"),
])
def test_a_bad_config_file_is_one_clear_line(tmp_path, capsys, argv, content, message):
    f = tmp_path / "c.json"
    f.write_text(content if isinstance(content, str) else json.dumps(content))
    assert main([*argv, "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("command", ["evaluate", "sample"])
def test_a_preset_is_refused_where_the_model_comes_from_the_checkpoint(command, capsys):
    assert main([command, "--config", "tiny", "--ckpt", "x"]) == 2
    err = capsys.readouterr().err
    assert f"{command} takes its model from --ckpt, so --config must be a JSON file" in err


def test_a_missing_config_file_or_checkpoint_is_one_clear_line(tmp_path, capsys):
    assert main(["evaluate", "--config", str(tmp_path / "nope.json")]) == 2
    assert "unknown --config" in capsys.readouterr().err
    assert main(["sft", "--config", str(tmp_path)]) == 2                 # a folder that is not a checkpoint
    assert "no checkpoint at" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["prepare", "evaluate", "sample"])
def test_a_checkpoint_config_is_refused_where_a_training_config_means_nothing(command, tiny_ckpt, capsys):
    assert main([command, "--config", str(tiny_ckpt)]) == 2
    err = capsys.readouterr().err
    assert "is a checkpoint" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
