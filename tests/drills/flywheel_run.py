"""A flywheel run for the RQ drills: a project with two collected objects, and what a drill watches of its trainer."""

import io
import json

import psutil
from django.conf import settings

from engine.core.models import Project
from engine.flywheel import iteration
from tests.drills.services import engine_env, suite_database_url
from tests.engine.conftest import make_user
from tests.engine.flywheel.test_aggregate import collect, new_object

STEPS, CKPT_EVERY = 8, 4  # the run checkpoints every steps // 2; the kill comes after the first checkpoint
KILL_AFTER = 6
# 0.4 s a step: a kill after step 6 lands before step 8 however fast the machine (the tiny preset's
# steps take ~20 ms when it is quiet, and the trainer used to finish before the kill).
STEP_SLEEP = 0.4


def create_run(glb_meshes, base_checkpoint, runs_root):
    """Return (run, its SFT folder): iteration 1 of a project with two collected objects, SFT of STEPS steps."""
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
    settings.RUNS_ROOT = runs_root
    run = iteration.create_run(project, preset="tiny", sft_steps=STEPS, dpo_steps=2, seeds=(0,), heldout_share=0.0,
                               base=str(base_checkpoint))
    return run, runs_root / "drill" / f"it1-run{run.pk}-sft"


def worker_env(redis_url, procs=1):
    """The environment of the drill's `rqworker trainer`: the test database, this Redis, slowed trainer steps,
    and `procs` trainer processes (torchrun ranks when more than one)."""
    return engine_env(suite_database_url(), redis_url, media_root=settings.MEDIA_ROOT, RUNS_ROOT=settings.RUNS_ROOT,
                      TRAINER_DRILL_STEP_SLEEP=STEP_SLEEP, ENGINE_TRAINER_PROCS=procs)


def trainer_processes(worker, ranks=0):
    """Return (work horse, its trainer child, the child's torchrun ranks) of an RQ worker process, or None while
    it has none or, with ranks > 0, while the trainer child (torchrun) has fewer ranks than that."""
    try:
        for horse in psutil.Process(worker.pid).children():
            for child in horse.children():
                if "trainer" in child.cmdline():
                    started = child.children() if ranks else []
                    return (horse, child, started) if len(started) >= ranks else None
    except psutil.Error:
        pass
    return None


def gone(proc):
    """Return whether a psutil process has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def log_steps(folder):
    """Return the rows of a trainer run's log.jsonl (empty while it has none)."""
    try:
        return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line.strip()]
    except (FileNotFoundError, ValueError):
        return []


def assert_resumed(run, sft_folder, killed_at):
    """Assert the run is DONE with iteration 2 open, and SFT went on from its checkpoint, not from the kill."""
    from engine.flywheel.models import FlywheelRun, RunStatus

    run = FlywheelRun.objects.get(pk=run.pk)
    assert run.status == RunStatus.DONE, run.error
    assert run.next_iteration.number == 2 and run.decision in ("promoted", "kept")
    rows = log_steps(sft_folder)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1)), rows
    # The resumed trainer logs steps 5-8 anew on a clock of its own: the rows the killed one wrote past its
    # checkpoint are gone (an orphan left to finish would have kept them, clock and all).
    past = [r for r in killed_at if r["step"] > CKPT_EVERY]
    assert past and all(r not in rows for r in past), "steps 5-8 were not logged by a resumed trainer"
    return rows


def _png():
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    return buffer.getvalue()
