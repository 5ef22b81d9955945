"""A trainer run as a job on a real RQ worker (queue `trainer`), registering its checkpoint."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from engine.flywheel.jobs import TrainerRunFailed, run_trainer
from engine.flywheel.models import ModelCheckpoint

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "render"
    subprocess.run([sys.executable, "-m", "trainer", "prepare", "--config", "tiny", "--n", "8", "--primitives", "4",
                    "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    return out


@pytest.fixture
def trainer_queue():
    """Return this run's REDIS_URL and its `trainer` queue, emptied.

    The test run's own Redis database, not a fixed one: two runs on one Redis server use two databases
    (README: make test), so neither's worker can take the other's jobs.
    """
    url = os.environ.get("REDIS_URL")
    if not url or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (CI has both)")
    import django_rq

    queue = django_rq.get_queue("trainer", connection=redis.Redis.from_url(url))
    queue.empty()  # what an earlier test of this run left: the worker below runs the queue to its end
    yield url, queue
    queue.empty()


def _worker_env(redis_url, tmp_path):
    db = settings.DATABASES["default"]
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "engine.settings", "REDIS_URL": redis_url,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "RUNS_ROOT": str(tmp_path / "runs"), "MEDIA_ROOT": settings.MEDIA_ROOT}


@pytest.mark.django_db
def test_failed_run_says_why(settings, tmp_path):
    settings.RUNS_ROOT = tmp_path
    with pytest.raises(TrainerRunFailed, match="no training data"):
        run_trainer("broken", "pretrain", ["--config", "tiny", "--steps", "1"])
    assert not ModelCheckpoint.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_trainer_job_on_a_real_rq_worker(trainer_queue, tiny_cache, tmp_path):
    url, queue = trainer_queue
    job = queue.enqueue(run_trainer, "tiny-pretrain", "pretrain",
                        ["--config", "tiny", "--steps", "2", "--data", str(tiny_cache), "--no-progress"])
    done = subprocess.run([sys.executable, "manage.py", "rqworker", "trainer", "--burst"], cwd=ROOT,
                          env=_worker_env(url, tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    job.refresh()
    assert job.get_status() == "finished", job.exc_info
    checkpoint = ModelCheckpoint.objects.get(pk=job.return_value())
    assert checkpoint.stage == "pretrain" and len(checkpoint.sha256) == 64
    assert (Path(checkpoint.path) / "model.safetensors").is_file()


@pytest.mark.django_db(transaction=True)
def test_a_flywheel_run_on_a_real_rq_worker_records_its_failure(trainer_queue, tmp_path):
    """The run job goes on the `trainer` queue, a real worker runs it, and a step that cannot go on
    (no training sample yet) leaves the run FAILED with the reason, resumable."""
    from engine.core.models import Project
    from engine.flywheel import iteration
    from engine.flywheel.deploy import promote
    from engine.flywheel.models import FlywheelRun, RunStatus

    url, queue = trainer_queue
    project = Project.objects.create(name="rq-fly")
    promote(ModelCheckpoint.objects.create(name="base", path=str(tmp_path), stage="pretrain"))
    run = iteration.create_run(project)
    job_id = iteration.enqueue(run, queue=queue)
    run.refresh_from_db()
    assert run.job_id == job_id and queue.job_ids == [job_id]
    done = subprocess.run([sys.executable, "manage.py", "rqworker", "trainer", "--burst"], cwd=ROOT,
                          env=_worker_env(url, tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.step == "aggregate"
    assert "No training sample of iterations 1..1" in run.error and set(run.step_seconds) == {"collect"}
    assert queue.fetch_job(job_id).get_status() == "failed"
    assert FlywheelRun.objects.count() == 1


@pytest.mark.django_db
def test_a_run_trains_with_torchrun_ranks_when_asked(settings, tiny_cache, tmp_path):
    """ENGINE_TRAINER_PROCS=2: the run goes through torchrun, two gloo ranks on the CPU; rank 0's checkpoint counts."""
    settings.RUNS_ROOT = tmp_path
    settings.ENGINE = {**settings.ENGINE, "TRAINER_PROCS": 2}
    args = ["--config", "tiny", "--steps", "2", "--vae-steps", "2", "--batch-size", "4", "--data", str(tiny_cache),
            "--no-progress"]
    pk = run_trainer("ddp", "pretrain", args)
    checkpoint = ModelCheckpoint.objects.get(pk=pk)
    assert (Path(checkpoint.path) / "model.safetensors").is_file() and checkpoint.stage == "pretrain"
