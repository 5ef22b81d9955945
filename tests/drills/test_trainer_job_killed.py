"""Drill: the RQ job of a flywheel run is killed mid-training; it resumes from its checkpoint and ends as if whole."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import redis
from django.db import connection
from safetensors.numpy import load_file

from tests.drills.flywheel_run import (
    CKPT_EVERY,
    KILL_AFTER,
    STEPS,
    assert_resumed,
    create_run,
    gone,
    log_steps,
    trainer_processes,
    worker_env,
)
from tests.drills.services import ROOT, redis_server, start, stop, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]


@pytest.mark.parametrize("procs", [1, 2], ids=["one-process", "torchrun-2-ranks"])
def test_a_killed_trainer_job_resumes_and_ends_as_an_uninterrupted_run(procs, glb_meshes, base_checkpoint, tmp_path):
    """Proves RQ retry of a lost job + trainer resume + the trainer dying with its job.

    A flywheel run of iteration 1 (tiny preset, SFT of 8 steps checkpointed at 4) goes on the RQ
    `trainer` queue of a Redis of the drill's own, and a real `rqworker trainer` takes it. Once SFT
    has logged step 6, the job's work horse is killed with SIGKILL (the OOM killer's way). Then:
    the trainer the job had started dies with it (no orphan writing into the run folder); RQ queues
    the job again (Retry) and the run goes on: SFT resumes from step 4 (steps 1-4 keep their log rows,
    5-8 are logged anew from a fresh clock) and the run is DONE with iteration 2 open. The SFT
    weights equal, within 1e-5, those of the same trainer command run without a kill (on the CPU
    the trainer resumes bit for bit: batches and noise are fixed by (seed, step)).
    With `torchrun-2-ranks` (ENGINE_TRAINER_PROCS=2, as on a multi-GPU host: two gloo ranks here) the
    job's trainer is torchrun: it and both its ranks must die with the job, the retried job resumes
    with two ranks, and the reference is the same two-rank command.
    Broken on purpose, it fails: without the job's Retry the run stays FAILED ("Work-horse
    terminated unexpectedly"); without PR_SET_PDEATHSIG the killed job's trainer outlives it; without
    `trainer.lifeline.die_with_launcher` the two ranks outlive their killed torchrun and finish the run
    themselves ("steps 5-8 were not logged by a resumed trainer").
    """
    if connection.vendor != "postgresql":
        pytest.skip("the RQ worker shares the test database, which needs PostgreSQL")
    from engine.flywheel import iteration

    run, sft_folder = create_run(glb_meshes, base_checkpoint, tmp_path / "runs")
    with redis_server() as url:
        from rq import Queue

        queue = Queue("trainer", connection=redis.Redis.from_url(url))
        job_id = iteration.enqueue(run, queue=queue)
        env = worker_env(url, procs)
        log = tmp_path / "rqworker.log"
        worker = start([sys.executable, "manage.py", "rqworker", "trainer", "--burst"], env, log)
        try:
            # Mid-epoch: after the checkpoint of step 4, before the end.
            wait_for(lambda: any(r.get("step", 0) >= KILL_AFTER for r in log_steps(sft_folder)), 300,
                     f"SFT to log step {KILL_AFTER} (worker log: {log.read_text()[-1500:] if log.exists() else ''})")
            horse, trainer, ranks = wait_for(lambda: trainer_processes(worker, ranks=procs if procs > 1 else 0), 30,
                                             "the job's trainer process (and its ranks)")
            assert (sft_folder / f"step-{CKPT_EVERY:07d}").is_dir()
            horse.send_signal(signal.SIGKILL)
            killed_at = log_steps(sft_folder)
            assert killed_at[-1]["step"] < STEPS, f"the trainer finished before the kill: {killed_at}"
            # At once: an orphan given longer could finish the last steps itself (the assertion on the log
            # rows below catches that too).
            wait_for(lambda: gone(trainer), 3, "the killed job's trainer to die with it")
            wait_for(lambda: all(gone(rank) for rank in ranks), 3, "the killed torchrun's ranks to die with it")
            assert worker.wait(timeout=480) == 0, log.read_text()[-3000:]
        finally:
            stop(worker)
        job = queue.fetch_job(job_id)
        assert job.get_status() == "finished", log.read_text()[-3000:]
    rows = assert_resumed(run, sft_folder, killed_at)

    # The same SFT without a kill: the trainer command the run used, into a folder of its own.
    reference = tmp_path / "reference"
    manifest = json.loads((sft_folder / f"step-{STEPS:07d}" / "manifest.json").read_text())
    cfg = manifest["config"]
    launcher = [sys.executable, "-m"] if procs == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}", "-m"]
    assert manifest["world_size"] == procs
    argv = [*launcher, "trainer", "sft", "--out", str(reference), "--config", cfg["config"],
            "--init", cfg["init"], "--data", *cfg["data"], "--no-progress", "--log-every", str(cfg["log_every"]),
            "--steps", str(STEPS), "--ckpt-every", str(CKPT_EVERY)]
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, timeout=300)
    resumed = load_file(str(sft_folder / f"step-{STEPS:07d}" / "model.safetensors"))
    whole = load_file(str(reference / f"step-{STEPS:07d}" / "model.safetensors"))
    assert resumed.keys() == whole.keys()
    worst = max(float(np.max(np.abs(resumed[k].astype(np.float64) - whole[k].astype(np.float64)), initial=0.0))
                for k in whole)
    assert worst <= 1e-5, f"resumed SFT weights differ from an uninterrupted run's by up to {worst}"
    assert rows[-1]["loss"] == pytest.approx(log_steps(reference)[-1]["loss"], rel=1e-4, abs=1e-6)

