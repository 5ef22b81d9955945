"""Iteration k of Algorithm 1 as one resumable run, recorded step by step in a FlywheelRun.

    collect    progress towards the collection target (simulated annotators when asked)
    aggregate  iterations 1..k, winners with r ≥ α_k, pairs; a fixed held-out share of objects apart
    sft        from the newest deployed checkpoint π_{k-1} on the kept winners
    dpo        from the SFT result, with it as the reference, on the DPO-eligible pairs
    evaluate   π_k against π_{k-1}: same held-out rows and seeds, paired deltas with SEs, and
               held-out preference accuracy (`trainer compare`); π_k becomes EVALUATED
    promote    by the project's rule (engine.flywheel.rules), or keep π_{k-1} and say why
    redeploy   close iteration k, open k+1 with its α, and re-offer failed objects (the tail)

`execute(run_id)` runs the steps not yet done, so running it again after a crash (or a killed
RQ job) goes on where it stopped, and the trainer resumes from its run folder's last checkpoint.
Runs take ids and go on the RQ `trainer` queue (engine.jobs); without Redis they run in-process.
"""

import logging
import re
import threading
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engine.flywheel import collect, deploy, records, tail
from engine.flywheel.aggregate import export_aggregate
from engine.flywheel.jobs import register, run_trainer, run_trainer_command
from engine.flywheel.models import CheckpointStatus, Decision, FlywheelRun, ModelCheckpoint, RunStatus, RunStep
from engine.flywheel.rules import decide
from engine.jobs import TRAINER_QUEUE

log = logging.getLogger("engine.flywheel")

PRESETS = ("tiny", "cpu", "gpu")
# Per preset: the fixed held-out composites (`trainer prepare`, once per project) and how `compare` samples them.
HELDOUT = {"tiny": dict(n=16, eval_n=8, steps=8, points=1000, emd_points=64, icp=False, log_every=1),
           "cpu": dict(n=96, eval_n=64, steps=0, points=4000, emd_points=256, icp=True, log_every=25),
           "gpu": dict(n=512, eval_n=256, steps=0, points=10000, emd_points=512, icp=True, log_every=100)}
HELDOUT_SEED = 90210  # not a seed any training cache is made with
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


class RunError(ValueError):
    """A run that cannot start or go on, with what to do about it; `field` names the bad option."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def slug(name):
    """Return a folder-safe form of a project name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "project"


def run_dir(run):
    """Return RUNS_ROOT/<project>/it<k>-run<id>: the run's export and comparison (its trainer runs lie beside it)."""
    return Path(settings.RUNS_ROOT) / slug(run.project.name) / f"it{run.iteration.number}-run{run.pk}"


def create_run(project, *, alpha=None, preset=None, sft_steps=None, dpo_steps=None, seeds=(0, 1), simulate=0,
               heldout_share=0.2, base=None, user=None):
    """Check the options and record a queued FlywheelRun for the project's open iteration k.

    `alpha` sets α_k of iteration k (the training bar of this run); `base` registers and deploys
    a checkpoint folder when none is deployed yet (π_0).
    """
    if alpha is not None and not 0 <= alpha <= 1:
        raise RunError(f"α_k is a rating bar between 0 and 1, got {alpha}.", "alpha")
    if preset is not None and preset not in PRESETS:
        raise RunError(f"Unknown trainer preset {preset!r}; choose one of {', '.join(PRESETS)}.", "config")
    for name, value in (("sft_steps", sft_steps), ("dpo_steps", dpo_steps)):
        if value is not None and value < 1:
            raise RunError(f"{name} is a number of optimizer steps, at least 1; got {value}.", name)
    if simulate < 0:
        raise RunError(f"simulate is a number of simulated annotators, got {simulate}.", "simulate")
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
        if deploy.newest_deployed() is None:
            raise RunError("No checkpoint is deployed, so there is nothing to train from: pass a pretrained "
                           "checkpoint as the base (flywheel run --base RUNS/pretrain), or promote one.", "base")
        iteration = project.current_iteration()
        if alpha is not None and alpha != iteration.alpha:
            iteration.alpha = alpha
            iteration.save(update_fields=["alpha"])
        options = {"preset": preset, "sft_steps": sft_steps, "dpo_steps": dpo_steps, "seeds": list(seeds),
                   "simulate": simulate, "heldout_share": heldout_share}
        return FlywheelRun.objects.create(project=project, iteration=iteration, alpha=iteration.alpha,
                                          options=options, created_by=user)


def _deploy_base(project, path):
    try:
        checkpoint = register(f"{slug(project.name)}/base", path)
    except FileNotFoundError as exc:
        raise RunError(f"--base {path} is not a checkpoint: {exc}", "base") from None
    if checkpoint.status != CheckpointStatus.PROMOTED and deploy.newest_deployed() is None:
        deploy.promote(checkpoint, keep=project.checkpoints_deployed, project=project, reason="base model π_0")


def enqueue(run, background=True, queue=None):
    """Queue the run on the RQ `trainer` queue (or `queue`); without Redis run it in a thread (background) or here."""
    if settings.REDIS_URL or queue is not None:
        if queue is None:
            import django_rq

            queue = django_rq.get_queue(TRAINER_QUEUE)
        job = queue.enqueue(execute, run.pk, job_timeout=24 * 3600)
        FlywheelRun.objects.filter(pk=run.pk).update(job_id=job.id)
        return job.id
    if background:
        threading.Thread(target=execute, args=(run.pk,), name=f"flywheel-run-{run.pk}", daemon=True).start()
        return None
    execute(run.pk)
    return None


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


def step_collect(run, echo):
    """Report progress towards the target; drive simulated annotators when the run asks for them."""
    iteration = run.iteration
    if run.options.get("simulate"):
        def on_task(stage, report):
            counts = report.get("counts", {})
            echo(f"[run {run.pk}] collect (simulated): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        run.counts = {**run.counts, "simulation": collect.simulate(iteration, run.options["simulate"],
                                                                   progress=_every(on_task, 2.0))}
    state = collect.collection_progress(iteration)
    run.counts = {**run.counts, "collection": state}
    records.record(run)
    echo(f"[run {run.pk}] collected {state['samples']} / {state['target']} training samples in iteration "
         f"{iteration.number}; acceptance {run.acceptance_rate if run.acceptance_rate is not None else '—'}")


def _every(fn, seconds):
    """Call fn at most once per `seconds` (progress lines, not one per task)."""
    last = [0.0]

    def wrapped(*args):
        if time.monotonic() - last[0] >= seconds:
            last[0] = time.monotonic()
            fn(*args)
    return wrapped


def step_aggregate(run, echo):
    """Export iterations 1..k with r ≥ α_k into the run's folder (train and held-out parts)."""
    out = run_dir(run) / "export"
    if out.exists() and (out / "manifest.json").exists():  # a resumed run keeps its data, so the trainer can resume
        import json

        summary = json.loads((out / "manifest.json").read_text())
    else:
        summary = export_aggregate(run.iteration, out, alpha=run.alpha, heldout_share=run.options["heldout_share"])
    run.export_dir = str(out)
    run.counts = {**run.counts, "export": summary["counts"]}
    train = summary["counts"]["train"]
    echo(f"[run {run.pk}] aggregate: {train['samples']} samples (r ≥ α_k = {run.alpha:g}) and {train['pairs']} pairs "
         f"({train['dpo_pairs']} for DPO) from iterations 1..{run.iteration.number}; held out "
         f"{summary['counts']['heldout']['pairs']} pairs")
    if not train["samples"]:
        raise RunError(f"No training sample of iterations 1..{run.iteration.number} is rated r ≥ α_k = {run.alpha:g}: "
                       "collect more, or lower α_k (flywheel run --alpha).", "alpha")


def _preset(run):
    return run.options.get("preset") or (run.baseline.config or {}).get("config") or "tiny"


def _train(run, echo, stage, init, args, steps):
    total = steps or None

    def on_row(row):
        run.progress = {"stage": stage, "steps": total, **{k: v for k, v in row.items() if isinstance(v, int | float)}}
        FlywheelRun.objects.filter(pk=run.pk).update(progress=run.progress)
        shown = {k: row[k] for k in ("loss", "rewards/margins", "rewards/accuracies") if k in row}
        echo(f"[run {run.pk}] {stage} step {row.get('step')}/{total or '?'} "
             + " ".join(f"{k}={v:.4g}" for k, v in shown.items()))

    preset = _preset(run)
    # The run folder's name is unique per run and stage: the suite names a deployed checkpoint's
    # generator after it (flow_model@<run folder>-<step>), so two deployed checkpoints never share a name.
    name = f"{slug(run.project.name)}/it{run.iteration.number}-run{run.pk}-{stage}"
    every = HELDOUT[preset]["log_every"]
    argv = ["--config", preset, "--init", init, *args, "--no-progress", "--log-every", every]
    if steps:
        argv += ["--steps", steps, "--ckpt-every", max(1, steps // 2)]
    pk = run_trainer(name, stage, argv, iteration_id=run.iteration_id, progress=on_row)
    return ModelCheckpoint.objects.get(pk=pk)


def step_sft(run, echo):
    """SFT from the newest deployed checkpoint on the kept winners."""
    if run.baseline_id is None:
        run.baseline = deploy.newest_deployed()
        run.save(update_fields=["baseline"])
    if run.baseline is None:
        raise RunError("No checkpoint is deployed any more (rolled back?); promote one and resume.", "base")
    train = str(Path(run.export_dir) / "train")
    run.sft_checkpoint = _train(run, echo, "sft", run.baseline.path, ["--data", train], run.options.get("sft_steps"))


def step_dpo(run, echo):
    """DPO from the SFT result with it as the reference; without DPO-eligible pairs π_k is the SFT result."""
    counts = run.counts["export"]
    if not counts["train"]["dpo_pairs"]:
        run.checkpoint = run.sft_checkpoint
        run.counts = {**run.counts, "dpo": "skipped: no DPO-eligible pair (every loser came from outside our model "
                                           "family); π_k is the SFT checkpoint"}
        echo(f"[run {run.pk}] {run.counts['dpo']}")
        return
    export = Path(run.export_dir)
    args = ["--data", str(export / "train")]
    if counts["heldout"]["dpo_pairs"]:
        args += ["--eval-data", str(export / "heldout")]
    run.checkpoint = _train(run, echo, "dpo", run.sft_checkpoint.path, args, run.options.get("dpo_steps"))


def heldout_cache(project, preset):
    """Return the project's fixed held-out composites for a preset, made once by `trainer prepare`."""
    out = Path(settings.RUNS_ROOT) / slug(project.name) / f"heldout-{preset}"
    if not (out / "index.json").exists():
        run_trainer_command("prepare", ["--config", preset, "--kind", "composite", "--n", HELDOUT[preset]["n"],
                                        "--seed", HELDOUT_SEED, "--out", out])
    return out


def step_evaluate(run, echo):
    """Compare π_k with π_{k-1} on the fixed held-out set and the held-out pairs; mark π_k EVALUATED."""
    import json

    preset = _preset(run)
    h = HELDOUT[preset]
    out = run_dir(run) / "compare.json"
    args = ["--a", run.checkpoint.path, "--b", run.baseline.path, "--data", heldout_cache(run.project, preset),
            "--n", h["eval_n"], "--steps", h["steps"], "--points", h["points"], "--emd-points", h["emd_points"],
            "--icp" if h["icp"] else "--no-icp", "--out", out]
    if run.counts["export"]["heldout"]["dpo_pairs"]:
        args += ["--pairs", Path(run.export_dir) / "heldout"]
    run_trainer_command("compare", [*args, "--seeds", *run.options["seeds"]])
    report = json.loads(out.read_text())
    run.metrics_before = {"metrics": report["b"]["metrics"], "metrics_se": report["b"]["metrics_se"]}
    run.metrics_after = {"metrics": report["a"]["metrics"], "metrics_se": report["a"]["metrics_se"]}
    run.comparison = {k: report[k] for k in ("n", "seeds", "delta", "delta_se", "preference", "metric_directions")}
    ModelCheckpoint.objects.filter(pk=run.checkpoint_id, status=CheckpointStatus.TRAINED).update(
        status=CheckpointStatus.EVALUATED)
    metric = run.project.promote_metric
    echo(f"[run {run.pk}] held-out {metric}: {report['b']['metrics'].get(metric, float('nan')):.4f} → "
         f"{report['a']['metrics'].get(metric, float('nan')):.4f} "
         f"(Δ {report['delta'].get(metric, float('nan')):+.4f} ± {report['delta_se'].get(metric) or 0:.4f})")


def step_promote(run, echo):
    """Promote π_k by the project's rule, or keep the deployed checkpoint and record why."""
    decision = decide(run.project, run.comparison)
    run.decision = Decision.PROMOTED if decision.promote else Decision.KEPT
    run.reason = decision.reason
    if decision.promote:
        deploy.promote(run.checkpoint, keep=run.project.checkpoints_deployed, project=run.project, run=run,
                       reason=decision.reason)
    echo(f"[run {run.pk}] {decision.reason}")


def step_redeploy(run, echo):
    """Close iteration k, open k+1 with its α, and (after a promotion) re-offer failed objects."""
    iteration, project = run.iteration, run.project
    if iteration.closed_at is None:
        iteration.closed_at = timezone.now()
        iteration.save(update_fields=["closed_at"])
    run.next_iteration = project.current_iteration()
    offered = []
    if run.decision == Decision.PROMOTED:
        offered = tail.reoffer(project, run.next_iteration, tail.tail_count(project))
    run.counts = {**run.counts, "tail": {"offered": len(offered), "objects": offered}}
    echo(f"[run {run.pk}] iteration {run.next_iteration.number} open (α = {run.next_iteration.alpha:g}); deployed: "
         + ", ".join(c.name for c in deploy.deployed()) + f"; {len(offered)} failed objects offered again")


STEPS = ((RunStep.COLLECT, step_collect), (RunStep.AGGREGATE, step_aggregate), (RunStep.SFT, step_sft),
         (RunStep.DPO, step_dpo), (RunStep.EVALUATE, step_evaluate), (RunStep.PROMOTE, step_promote),
         (RunStep.REDEPLOY, step_redeploy))


def rollback(project, reason=""):
    """Retire the newest deployed checkpoint and restore the ones promoted before it; return (out, restored)."""
    return deploy.rollback(keep=project.checkpoints_deployed, project=project, reason=reason or "flywheel rollback")


def status(project, runs=5):
    """Return the project's flywheel state as JSON-able data: iteration, deployed checkpoints, latest runs."""
    from engine.flywheel.serializers import RunSerializer

    iteration = project.iterations.filter(closed_at__isnull=True).order_by("-number").first()
    return {
        "project": project.name,
        "iteration": {"number": iteration.number, "alpha": iteration.alpha} if iteration else None,
        "collection": collect.collection_progress(iteration) if iteration else None,
        "deployed": [{"id": c.pk, "name": c.name, "stage": c.stage, "path": c.path,
                      "promoted_at": c.promoted_at.isoformat() if c.promoted_at else None} for c in deploy.deployed()],
        "runs": RunSerializer(project.flywheel_runs.order_by("-id")[:runs], many=True).data,
    }
