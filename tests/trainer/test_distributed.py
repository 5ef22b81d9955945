"""Two CPU processes with the gloo backend end with identical weights (torchrun, as on GPUs)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import torch

import trainer

from .test_dpo import pair_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(trainer.__file__)))
SCRIPT = textwrap.dedent('''
    import os, sys, torch
    from trainer import dpo, sft
    from trainer.config import DPOConfig, TrainConfig
    stage, out, data, init, replay = sys.argv[1:6]
    run = dict(config="tiny", out=out, data=[data], steps=4, batch_size=8, lr=1e-3, warmup=1, log_every=2,
               ckpt_every=4, progress=False, threads=1)
    if stage.startswith("sft"):   # sft-category: with the category loss and a layer over the condition tokens
        extra = dict(category_loss=1.0, cond_layers=1) if stage == "sft-category" else {}
        model, ema = sft.train(TrainConfig(stage="sft", vae_steps=2, **run, **extra))
    else:
        extra = dict(replay=[replay], replay_share=0.5) if stage == "dpo-replay" else {}
        model, ema = dpo.train(DPOConfig(init=init, beta=50.0, sft_weight=0.1, **run, **extra))
    torch.save(model.state_dict(), os.path.join(out, "rank%s.pt" % os.environ["RANK"]))
''')


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["sft", "sft-category", "dpo", "dpo-replay"])
def test_two_gloo_ranks_end_with_identical_weights(stage, tmp_path, tiny_cache, tiny_ckpt):
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    data = pair_dataset(tiny_cache, tmp_path / "pairs") if stage.startswith("dpo") else tiny_cache
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), stage, str(out), str(data), str(tiny_ckpt), str(tiny_cache)],
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    from trainer.checkpoints import load_checkpoint
    _, manifest = load_checkpoint(out)
    assert manifest["world_size"] == 2 and manifest["step"] == 4 and manifest["stage"] == stage.split("-")[0]
    if stage == "sft-category":                  # the head trained on both ranks alike
        assert manifest["category_loss"]["rows_with_category"] == 32 and "category_head.1.weight" in a
    assert not torch.equal(a["shape_in.weight"], torch.zeros_like(a["shape_in.weight"]))
    if stage == "dpo-replay":                    # one forward per step: DDP reduced the replayed rows' gradients
        assert manifest["replay"]["rows_per_step"] == 4
    if stage.startswith("dpo"):                  # both ranks moved away from the reference they started from
        ref, _ = load_checkpoint(tiny_ckpt)
        assert any(not torch.equal(a[k], v) for k, v in ref.state_dict().items())


@pytest.mark.slow
def test_a_killed_torchrun_takes_its_ranks_with_it(tmp_path, tiny_cache):
    """Proves `trainer.lifeline.die_with_launcher`: the ranks of a SIGKILLed torchrun die within 3 s.

    torchrun starts its ranks in sessions of their own and, killed (its RQ work horse lost, so the
    engine's `die_with_parent` killed it), does not take them down: they trained on as orphans in the
    run folder a retried job resumes from. Broken on purpose (`die_with_launcher` returning at once),
    both ranks outlive the launcher and the test fails.
    """
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "trainer",
            "sft", "--config", "tiny", "--data", str(tiny_cache), "--out", str(out), "--steps", "100000",
            "--vae-steps", "2", "--log-every", "1", "--ckpt-every", "100000", "--no-progress", "--threads", "1"]
    with open(tmp_path / "torchrun.log", "w") as err:
        launcher = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    ranks = []
    try:
        deadline = time.monotonic() + 120
        while not _logged_steps(out / "log.jsonl"):   # both ranks past the process group, training
            assert launcher.poll() is None, (tmp_path / "torchrun.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no training step logged in 120 s"
            time.sleep(0.2)
        ranks = psutil.Process(launcher.pid).children()
        assert len(ranks) == 2, ranks
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=10)
        alive = _alive(ranks, within=3.0)
        assert not alive, f"{len(alive)} of 2 ranks outlived their killed torchrun"
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for rank in _alive(ranks, within=0):
            rank.kill()


def _logged_steps(path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if "step" in json.loads(line))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _alive(procs, within: float) -> list:
    """The processes still running (zombies count as gone) after waiting up to `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)
