"""Drill: the RQ worker running a flywheel run is lost; another worker takes the abandoned job and the run ends."""

import signal
import sys

import pytest
import redis
from django.db import connection

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
from tests.drills.services import redis_server, start, stop, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

# RQ marks a started job abandoned once its execution's heartbeat lapses: the worker renews it every
# job_monitoring_interval (30 s) for that plus 60 s, so 60-90 s after the kill. The drill waits for it.
ABANDONED_WITHIN = 120


def test_a_lost_rq_worker_s_run_is_taken_up_by_another_worker(glb_meshes, base_checkpoint, tmp_path):
    """Proves RQ's abandoned-job handling + the job's Retry + the work horse dying with its worker.

    A flywheel run (tiny preset, SFT of 8 steps checkpointed at 4) goes on the `trainer` queue of a
    Redis of the drill's own and worker A (`rqworker trainer`) takes it. Once SFT has logged step 6,
    A's own process, the one that heartbeats and would record the job's end, is SIGKILLed (an
    operator's `kill -9`, an OOM kill of the worker). Then: A's work horse and the trainer it started
    die with A within 3 s (else they train on unsupervised while the job is handed out again: two
    trainers in one run folder); the job stays STARTED until its heartbeat lapses (60-90 s), then
    worker B's registry maintenance, at its start, finds it abandoned and queues it again under its
    Retry; B runs it, SFT resumes from step 4 and the run is DONE with iteration 2 open.
    Broken on purpose, it fails: with `JOB_RETRIES = 0` B moves the job to the failed registry
    (AbandonedJobError) and the run never ends; without PR_SET_PDEATHSIG on the work horse A's horse
    lives on ("the lost worker's work horse to die with it").
    Cost: ~3 min on the 2-core machine, most of it the wait for the heartbeat to lapse; worker B is
    not in --burst mode (RQ 3.0's burst worker takes ~60 s to exit) but stopped with SIGTERM once idle.
    """
    if connection.vendor != "postgresql":
        pytest.skip("the RQ workers share the test database, which needs PostgreSQL")
    from rq import Queue
    from rq.registry import FailedJobRegistry, StartedJobRegistry
    from rq.utils import current_timestamp

    from engine.flywheel import iteration
    from engine.flywheel.models import FlywheelRun, RunStatus

    run, sft_folder = create_run(glb_meshes, base_checkpoint, tmp_path / "runs")
    with redis_server() as url:
        queue = Queue("trainer", connection=redis.Redis.from_url(url))
        job_id = iteration.enqueue(run, queue=queue)
        env = worker_env(url)
        logs = {name: tmp_path / f"rqworker-{name}.log" for name in "AB"}
        a = start([sys.executable, "manage.py", "rqworker", "trainer", "--name", "drill-A"], env, logs["A"])
        b = horse = trainer = None
        try:
            wait_for(lambda: any(r.get("step", 0) >= KILL_AFTER for r in log_steps(sft_folder)), 300,
                     f"SFT to log step {KILL_AFTER} (worker A's log: {_tail(logs['A'])})")
            horse, trainer, _ = wait_for(lambda: trainer_processes(a), 30, "worker A's work horse and trainer")
            assert (sft_folder / f"step-{CKPT_EVERY:07d}").is_dir()
            a.send_signal(signal.SIGKILL)  # the worker's process alone: its horse is in a process group of its own
            killed_at = log_steps(sft_folder)
            assert killed_at[-1]["step"] < STEPS, f"the trainer finished before the kill: {killed_at}"
            wait_for(lambda: gone(horse) and gone(trainer), 3, "the lost worker's work horse to die with it")
            assert queue.fetch_job(job_id).get_status() == "started"

            started = StartedJobRegistry(queue=queue)
            wait_for(lambda: job_id in started.get_expired_job_ids(current_timestamp()), ABANDONED_WITHIN,
                     "the lost worker's job to be marked abandoned (its heartbeat to lapse)")
            b = start([sys.executable, "manage.py", "rqworker", "trainer", "--name", "drill-B"], env, logs["B"])
            failed = FailedJobRegistry(queue=queue)

            def ended():
                if job_id in failed.get_job_ids():
                    pytest.fail(f"the abandoned job failed instead of being retried: {_tail(logs['B'])}")
                return FlywheelRun.objects.get(pk=run.pk).status in (RunStatus.DONE, RunStatus.FAILED)
            wait_for(ended, 300, f"worker B to end the run (its log: {_tail(logs['B'])})")
            wait_for(lambda: queue.fetch_job(job_id).get_status() == "finished", 30, "the job to be finished")
        finally:
            stop(a)
            stop(b, signal.SIGTERM)
            for orphan in (horse, trainer):  # broken on purpose they outlive A, in a process group of their own
                if orphan is not None and not gone(orphan):
                    orphan.kill()
        assert "drill-B" in queue.fetch_job(job_id).worker_name
    assert_resumed(run, sft_folder, killed_at)


def _tail(path, n=1500):
    return path.read_text(errors="replace")[-n:] if path.exists() else ""
