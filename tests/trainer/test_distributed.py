"""Two CPU processes with the gloo backend end with identical weights (torchrun, as on GPUs)."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(trainer.__file__)))
SCRIPT = textwrap.dedent('''
    import os, sys, torch
    from trainer import sft
    from trainer.config import TrainConfig
    out, data = sys.argv[1], sys.argv[2]
    model, ema = sft.train(TrainConfig(config="tiny", out=out, data=[data], steps=4, vae_steps=2, batch_size=8,
                                       lr=1e-3, warmup=1, log_every=2, ckpt_every=4, progress=False, threads=1))
    torch.save(model.state_dict(), os.path.join(out, "rank%s.pt" % os.environ["RANK"]))
''')


@pytest.mark.slow
def test_two_gloo_ranks_end_with_identical_weights(tmp_path, tiny_cache):
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(out), str(tiny_cache)], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    first = torch.load(out / "rank0.pt")
    from trainer.checkpoints import load_checkpoint
    _, manifest = load_checkpoint(out)
    assert manifest["world_size"] == 2 and manifest["step"] == 4
    assert not torch.equal(first["shape_in.weight"], torch.zeros_like(first["shape_in.weight"]))
