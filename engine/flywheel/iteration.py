"""Iteration k of Algorithm 1 as one resumable run, recorded step by step in a FlywheelRun.

    collect    progress towards the collection target (simulated annotators when asked)
    aggregate  iterations 1..k, winners with r ≥ α_k, pairs; a fixed held-out share of objects apart
    sft        from the project's newest deployed checkpoint π_{k-1} on the kept winners
    dpo        from the SFT result, with it as the reference, on the DPO-eligible pairs
    evaluate   SFT and DPO against π_{k-1}: same held-out rows and seeds, paired deltas with SEs,
               held-out preference accuracy (`trainer compare`); π_k is DPO's checkpoint when DPO
               is not worse than SFT beyond noise, else SFT's; π_k becomes EVALUATED
    promote    by the project's rule (engine.flywheel.rules), or keep π_{k-1} and say why
    redeploy   close iteration k, open k+1 with its α, and re-offer failed objects (the tail)

`execute(run_id)` runs the steps not yet done, so running it again after a crash (or a killed
RQ job) goes on where it stopped, and the trainer resumes from its run folder's last checkpoint.
On RQ a job whose worker died is queued again by RQ itself (JOB_RETRIES; tests/drills shows it).
Runs take ids and go on the RQ `trainer` queue (engine.jobs); without Redis they run in-process.
"""

import logging
import os
import threading
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engine.flywheel import collect, deploy
from engine.flywheel.jobs import die_with_parent, register
from engine.flywheel.models import CheckpointStatus, FlywheelRun, RunStatus, RunStep
from engine.flywheel.serializers import RunSerializer
from engine.flywheel.steps import (DPO_DPOP, DPO_SFT_WEIGHT, PRESETS, RunError, checkpoint_categories,
                                   checkpoint_conditions_on_category, slug, step_aggregate, step_collect, step_dpo,
                                   step_evaluate, step_promote, step_redeploy, step_sft)
from engine.jobs import TRAINER_QUEUE

__all__ = ["PRESETS", "RunError", "create_run", "enqueue", "execute", "execute_job", "rollback", "status"]

log = logging.getLogger("engine.flywheel")

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
JOB_RETRIES = 3  # times a run's RQ job is queued again after its worker died (then `flywheel resume`)


def create_run(project, *, alpha=None, preset=None, sft_steps=None, dpo_steps=None, seeds=(0, 1), simulate=0,
               artist_delay=0.0, heldout_share=0.2, base=None, user=None, dpo_sft_weight=DPO_SFT_WEIGHT,
               category_loss=0.0, replay=(), replay_share=0.5, dpo_dpop=DPO_DPOP):
    """Check the options and record a queued FlywheelRun for the project's open iteration k.

    `alpha` sets α_k of iteration k (the training bar of this run); `base` registers and deploys
    a checkpoint folder when none is deployed yet (π_0); `dpo_sft_weight` anchors DPO to the chosen
    shapes (see DPO_SFT_WEIGHT) and `dpo_dpop` keeps DPO from making them less likely (DPO_DPOP);
    `artist_delay` is the seconds a simulated artist models a mesh (with `simulate`; failures the artist has not
    reached when the target is met wait for the next iteration's tail);
    `category_loss` > 0 has SFT also train π_{k-1}'s category head on the samples' Stage 1 categories (trainer
    `sft --category-loss`), which needs a deployed checkpoint with a head (trained with the loss from scratch);
    `replay`: training data folders of the deployed model (its mid-training composites, say) that SFT replays
    beside the collected samples, `replay_share` of every batch (trainer `sft --replay`): without it, SFT on a
    dozen new rows lowers a strong π_0 (trainer/README.md, session 29).
    """
    if alpha is not None and not 0 <= alpha <= 1:
        raise RunError(f"α_k is a rating bar between 0 and 1, got {alpha}.", "alpha")
    if preset is not None and preset not in PRESETS:
        raise RunError(f"Unknown trainer preset {preset!r}; choose one of {', '.join(PRESETS)}.", "config")
    for name, value in (("sft_steps", sft_steps), ("dpo_steps", dpo_steps)):
        if value is not None and value < 1:
            raise RunError(f"{name} is a number of optimizer steps, at least 1; got {value}.", name)
    if dpo_sft_weight is None or not dpo_sft_weight >= 0:
        raise RunError(f"dpo_sft_weight is a loss weight, 0 or more; got {dpo_sft_weight}.", "dpo_sft_weight")
    if dpo_dpop is None or not dpo_dpop >= 0:
        raise RunError(f"dpo_dpop is DPO-Positive's lambda, 0 or more; got {dpo_dpop}.", "dpo_dpop")
    if category_loss is None or not category_loss >= 0:
        raise RunError(f"category_loss is a loss weight, 0 or more; got {category_loss}.", "category_loss")
    replay = [str(p) for p in replay or ()]
    for path in replay:
        if not is_training_data(path):
            raise RunError(f"replay {path}: not a trainer cache (index.json) or an engine export (manifest.json).",
                           "replay")
    if replay and not 0 < replay_share < 1:
        raise RunError(f"replay_share is the share of each SFT batch drawn from the replayed data, between 0 and 1 "
                       f"(both excluded); got {replay_share}.", "replay_share")
    if simulate < 0:
        raise RunError(f"simulate is a number of simulated annotators, got {simulate}.", "simulate")
    if artist_delay is None or not artist_delay >= 0:
        raise RunError(f"artist_delay is seconds a simulated artist takes, 0 or more; got {artist_delay}.",
                       "artist_delay")
    if not 0 <= heldout_share < 1:
        raise RunError(f"heldout_share is a share below 1, got {heldout_share}.", "heldout_share")
    if not seeds:
        raise RunError("Give at least one evaluation seed.", "seeds")
    with transaction.atomic():
        busy = FlywheelRun.objects.select_for_update().filter(project=project, status__in=ACTIVE).first()
        if busy:
            raise RunError(f"Flywheel run {busy.pk} of {project.name} is {busy.status} (step {busy.step}); "
                           "wait for it, or resume it if its job died (manage.py flywheel resume).", "project")
        if base:
            _deploy_base(project, base)
        if deploy.newest_deployed(project) is None:
            raise RunError(f"No checkpoint of {project.name} (or shared) is deployed, so there is nothing to train "
                           "from: pass a pretrained checkpoint as the base (flywheel run --base RUNS/pretrain), or "
                           "promote one.", "base")
        if category_loss > 0:
            _check_category_head(deploy.newest_deployed(project), category_loss)
        iteration = project.current_iteration()
        if alpha is not None and alpha != iteration.alpha:
            iteration.alpha = alpha
            iteration.save(update_fields=["alpha"])
        options = {"preset": preset, "sft_steps": sft_steps, "dpo_steps": dpo_steps, "seeds": list(seeds),
                   "simulate": simulate, "artist_delay": float(artist_delay), "heldout_share": heldout_share,
                   "dpo_sft_weight": float(dpo_sft_weight), "dpo_dpop": float(dpo_dpop),
                   "category_loss": float(category_loss),
                   **({"replay": replay, "replay_share": float(replay_share)} if replay else {})}
        return FlywheelRun.objects.create(project=project, iteration=iteration, alpha=iteration.alpha,
                                          options=options, created_by=user)


def _check_category_head(checkpoint, weight):
    """Refuse the category loss unless the checkpoint SFT starts from has a category head (a vocabulary)."""
    try:
        categories = checkpoint_categories(checkpoint.path)
        conditioned = checkpoint_conditions_on_category(checkpoint.path)
    except (OSError, ValueError) as exc:  # missing, not a folder, unreadable, not JSON
        raise RunError(f"category_loss {weight:g}: cannot read the deployed checkpoint {checkpoint.name}: {exc}",
                       "category_loss") from None
    if conditioned:
        raise RunError(f"category_loss {weight:g}: the deployed checkpoint {checkpoint.name} is given the category as "
                       "a condition token, so a head that names it has nothing to learn; leave category_loss at 0.",
                       "category_loss")
    if not categories:
        raise RunError(f"category_loss {weight:g}: the deployed checkpoint {checkpoint.name} has no category head; "
                       "pretrain π_0 with the loss (trainer pretrain --category-loss W --cond-layers N) to give it "
                       "one, or leave category_loss at 0.", "category_loss")


def is_training_data(path):
    """Whether `path` is a folder the trainer reads as training data: a `prepare` cache or an engine export."""
    from trainer.data.export import is_export

    try:
        return Path(path).is_dir() and ((Path(path) / "index.json").exists() or is_export(path))
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte: no folder of ours
        return False


def _deploy_base(project, path):
    """Register `path` as the project's π_0 and deploy it, unless the project has deployed a checkpoint of its own."""
    try:
        checkpoint = register(f"{slug(project.name)}/base", path, project=project)
    except FileNotFoundError as exc:
        raise RunError(f"--base {path} is not a checkpoint: {exc}", "base") from None
    if checkpoint.status != CheckpointStatus.PROMOTED and not deploy.deployed(project, shared=False):
        deploy.promote(checkpoint, keep=project.checkpoints_deployed, project=project, reason="base model π_0")


def enqueue(run, background=True, queue=None):
    """Queue the run on the RQ `trainer` queue (or `queue`); without Redis run it in a thread (background) or here."""
    if settings.REDIS_URL or queue is not None:
        if queue is None:
            import django_rq

            queue = django_rq.get_queue(TRAINER_QUEUE)
        from rq import Retry

        # A job whose worker dies (killed, out of memory, host lost) is queued again, up to JOB_RETRIES
        # times, and goes on where it stopped; an error the run raises is final (execute_job).
        job = queue.enqueue(execute_job, run.pk, job_timeout=24 * 3600,
                            retry=Retry(max=JOB_RETRIES) if JOB_RETRIES else None)
        FlywheelRun.objects.filter(pk=run.pk).update(job_id=job.id)
        return job.id
    if background:
        threading.Thread(target=execute, args=(run.pk,), name=f"flywheel-run-{run.pk}", daemon=True).start()
        return None
    execute(run.pk)
    return None


def execute_job(run_id):
    """Run `execute(run_id)` as an RQ job: retried only when its worker dies, never for an error it raised.

    RQ retries a job with retries left after either; an error of the run (no training data, a
    trainer that exited with an error) would only fail again, so it spends the retries first.
    """
    from rq import get_current_job

    job = get_current_job()
    if job is not None and os.environ.get("RQ_JOB_ID") == job.id:
        # In RQ's work horse (the worker's child, in a process group of its own): die with the worker. A
        # worker killed alone left its horse training unsupervised; once the worker's heartbeat lapsed RQ
        # handed the job out again, and two trainers wrote into one run folder (tests/drills/
        # test_rq_worker_lost.py). A worker lost in the instant between its fork and this call still
        # leaves an orphan.
        die_with_parent()
    try:
        return execute(run_id)
    except BaseException:
        if job is not None:
            job.retries_left = 0
        raise


def execute(run_id, echo=None):
    """Run the steps of FlywheelRun `run_id` that are not done yet; return the run.

    `echo(line)` receives progress lines (the terminal); the record is saved after every step.
    """
    run = FlywheelRun.objects.select_related("project", "iteration").get(pk=run_id)
    echo = echo or (lambda line: log.info("%s", line))
    if run.status == RunStatus.DONE:
        return run
    run.status, run.error = RunStatus.RUNNING, ""
    run.save(update_fields=["status", "error"])
    try:
        for step, fn in STEPS:
            if _done(run, step):
                continue
            run.step = step
            run.save(update_fields=["step"])
            echo(f"[run {run.pk}] iteration {run.iteration.number}: {step} …")
            started = time.monotonic()
            fn(run, echo)
            run.step_seconds = {**run.step_seconds, step: round(time.monotonic() - started, 2)}
            run.save()
            echo(f"[run {run.pk}] {step} done in {run.step_seconds[step]:.1f} s")
        run.status, run.step, run.finished_at = RunStatus.DONE, RunStep.DONE, timezone.now()
        run.save()
    except BaseException as exc:
        run.status = RunStatus.FAILED
        run.error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()[-4000:]}"
        run.save(update_fields=["status", "error", "step_seconds", "counts", "progress"])
        raise
    return run


def _done(run, step):
    return step in run.step_seconds


STEPS = ((RunStep.COLLECT, step_collect), (RunStep.AGGREGATE, step_aggregate), (RunStep.SFT, step_sft),
         (RunStep.DPO, step_dpo), (RunStep.EVALUATE, step_evaluate), (RunStep.PROMOTE, step_promote),
         (RunStep.REDEPLOY, step_redeploy))


def rollback(project, reason=""):
    """Retire the project's newest deployed checkpoint, restore the ones it promoted before; return (out, restored)."""
    return deploy.rollback(project, keep=project.checkpoints_deployed, reason=reason or "flywheel rollback")


def status(project, runs=5):
    """Return the project's flywheel state as JSON-able data: iteration, its deployed checkpoints, latest runs."""
    iteration = project.iterations.filter(closed_at__isnull=True).order_by("-number").first()
    return {
        "project": project.name,
        "iteration": {"number": iteration.number, "alpha": iteration.alpha} if iteration else None,
        "collection": collect.collection_progress(iteration) if iteration else None,
        "deployed": [{"id": c.pk, "name": c.name, "stage": c.stage, "path": c.path, "shared": c.project_id is None,
                      "promoted_at": c.promoted_at.isoformat() if c.promoted_at else None}
                     for c in deploy.deployed(project)],
        "runs": RunSerializer(project.flywheel_runs.order_by("-id")[:runs], many=True).data,
    }
