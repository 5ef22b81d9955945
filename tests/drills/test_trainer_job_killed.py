"""Drill: the RQ job of a flywheel run is killed mid-training; it resumes from its checkpoint and ends as if whole."""

import json
import signal
import subprocess
import sys

import numpy as np
import psutil
import pytest
import redis
from django.conf import settings
from django.db import connection
from safetensors.numpy import load_file

from engine.core.models import Project
from engine.flywheel import iteration
from engine.flywheel.models import FlywheelRun, RunStatus
from tests.drills.services import (
    ROOT,
    engine_env,
    redis_server,
    start,
    stop,
    suite_database_url,
    wait_for,
)
from tests.engine.conftest import make_user
from tests.engine.flywheel.test_aggregate import collect, new_object

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

STEPS, CKPT_EVERY = 8, 4  # the run checkpoints every steps // 2; the kill comes after the first checkpoint
KILL_AFTER = 6


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory):
    """π_0: the tiny model pretrained for a few steps on 16 renders (seconds)."""
    from trainer import sft
    from trainer.config import DataConfig, TrainConfig
    from trainer.data.cache import prepare

    root = tmp_path_factory.mktemp("drill-base")
    prepare(DataConfig(out=str(root / "render"), kind="render", n=16, primitives=4, grid=16, render_size=64,
                       image_size=32, shard_size=16), progress=False)
    sft.train(TrainConfig(config="tiny", out=str(root / "pretrain"), data=[str(root / "render")], steps=2, vae_steps=2,
                          batch_size=8, lr=1e-3, warmup=1, log_every=1, ckpt_every=2, progress=False))
    return root / "pretrain"


def _trainer_processes(worker):
    """Return (work horse, its trainer child) of an RQ worker process, or None while it has none."""
    try:
        for horse in psutil.Process(worker.pid).children():
            for child in horse.children():
                if "trainer" in child.cmdline():
                    return horse, child
    except psutil.Error:
        pass
    return None


def _log_steps(folder):
    try:
        return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line.strip()]
    except (FileNotFoundError, ValueError):
        return []


def test_a_killed_trainer_job_resumes_and_ends_as_an_uninterrupted_run(glb_meshes, base_checkpoint, tmp_path):
    """Proves RQ retry of a lost job + trainer resume + the trainer dying with its job.

    A flywheel run of iteration 1 (tiny preset, SFT of 8 steps checkpointed at 4) goes on the RQ
    `trainer` queue of a Redis of the drill's own, and a real `rqworker trainer` takes it. Once SFT
    has logged step 6, the job's work horse is killed with SIGKILL (the OOM killer's way). Then:
    the trainer the job had started dies with it (no orphan writing into the run folder); RQ queues
    the job again (Retry) and the run goes on: SFT resumes from step 4 (steps 1-4 keep their log rows,
    5-8 are logged anew from a fresh clock) and the run is DONE with iteration 2 open. The SFT
    weights equal, within 1e-5, those of the same trainer command run without a kill (on the CPU
    the trainer resumes bit for bit: batches and noise are fixed by (seed, step)).
    Broken on purpose, it fails: without the job's Retry the run stays FAILED ("Work-horse
    terminated unexpectedly"); without PR_SET_PDEATHSIG the killed job's trainer outlives it.
    """
    if connection.vendor != "postgresql":
        pytest.skip("the RQ worker shares the test database, which needs PostgreSQL")
    engineer, annotator, aligner = (make_user(name, role) for name, role in
                                    (("eng-d", "engineer"), ("ann-d", "annotator"), ("ali-d", "annotator")))
    from engine.intake.services import ingest

    # The review of fast answers would hold `collect`'s instant rankings; these people are not timed.
    project = Project.objects.create(name="drill", alpha=0.3, n_candidates=4, created_by=engineer,
                                     collection_target=2, alpha_schedule=[0.3, 0.4], review_min_compare_seconds=0,
                                     review_min_align_seconds=0)
    image, _ = ingest(project, _png(), "drill.png", source_dataset="drill", user=engineer)
    for x0 in (20, 200):
        collect(project, new_object(image, annotator, x0), annotator, aligner, 0.8, glb_meshes)
    settings.RUNS_ROOT = tmp_path / "runs"
    run = iteration.create_run(project, preset="tiny", sft_steps=STEPS, dpo_steps=2, seeds=(0,), heldout_share=0.0,
                               base=str(base_checkpoint))
    sft_folder = settings.RUNS_ROOT / "drill" / f"it1-run{run.pk}-sft"
    with redis_server() as url:
        from rq import Queue

        queue = Queue("trainer", connection=redis.Redis.from_url(url))
        job_id = iteration.enqueue(run, queue=queue)
        # 0.4 s a step: the kill after step 6 lands before step 8 however fast the machine (the tiny
        # preset's steps take ~20 ms when it is quiet, and the trainer used to finish before the kill).
        env = engine_env(suite_database_url(), url, media_root=settings.MEDIA_ROOT, RUNS_ROOT=settings.RUNS_ROOT,
                         TRAINER_DRILL_STEP_SLEEP=0.4)
        log = tmp_path / "rqworker.log"
        worker = start([sys.executable, "manage.py", "rqworker", "trainer", "--burst"], env, log)
        try:
            # Mid-epoch: after the checkpoint of step 4, before the end.
            wait_for(lambda: any(r.get("step", 0) >= KILL_AFTER for r in _log_steps(sft_folder)), 300,
                     f"SFT to log step {KILL_AFTER} (worker log: {log.read_text()[-1500:] if log.exists() else ''})")
            horse, trainer = wait_for(lambda: _trainer_processes(worker), 30, "the job's trainer process")
            assert (sft_folder / f"step-{CKPT_EVERY:07d}").is_dir()
            horse.send_signal(signal.SIGKILL)
            killed_at = _log_steps(sft_folder)
            assert killed_at[-1]["step"] < STEPS, f"the trainer finished before the kill: {killed_at}"
            # At once: an orphan given longer could finish the last steps itself (the assertion on the log
            # rows below catches that too).
            wait_for(lambda: not trainer.is_running() or trainer.status() == psutil.STATUS_ZOMBIE, 3,
                     "the killed job's trainer to die with it")
            assert worker.wait(timeout=480) == 0, log.read_text()[-3000:]
        finally:
            stop(worker)
        job = queue.fetch_job(job_id)
        assert job.get_status() == "finished", log.read_text()[-3000:]
    run = FlywheelRun.objects.get(pk=run.pk)
    assert run.status == RunStatus.DONE, run.error
    assert run.next_iteration.number == 2 and run.decision in ("promoted", "kept")
    rows = _log_steps(sft_folder)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1)), rows
    # The resumed trainer logs steps 5-8 anew on a clock of its own: the rows the killed one wrote past its
    # checkpoint are gone (an orphan left to finish would have kept them, clock and all).
    past = [r for r in killed_at if r["step"] > CKPT_EVERY]
    assert past and all(r not in rows for r in past), "steps 5-8 were not logged by a resumed trainer"

    # The same SFT without a kill: the trainer command the run used, into a folder of its own.
    reference = tmp_path / "reference"
    manifest = json.loads((sft_folder / f"step-{STEPS:07d}" / "manifest.json").read_text())
    cfg = manifest["config"]
    argv = [sys.executable, "-m", "trainer", "sft", "--out", str(reference), "--config", cfg["config"],
            "--init", cfg["init"], "--data", *cfg["data"], "--no-progress", "--log-every", str(cfg["log_every"]),
            "--steps", str(STEPS), "--ckpt-every", str(CKPT_EVERY)]
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, timeout=300)
    resumed = load_file(str(sft_folder / f"step-{STEPS:07d}" / "model.safetensors"))
    whole = load_file(str(reference / f"step-{STEPS:07d}" / "model.safetensors"))
    assert resumed.keys() == whole.keys()
    worst = max(float(np.max(np.abs(resumed[k].astype(np.float64) - whole[k].astype(np.float64)), initial=0.0))
                for k in whole)
    assert worst <= 1e-5, f"resumed SFT weights differ from an uninterrupted run's by up to {worst}"
    assert rows[-1]["loss"] == pytest.approx(_log_steps(reference)[-1]["loss"], rel=1e-4, abs=1e-6)


def _png():
    import io

    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    return buffer.getvalue()
