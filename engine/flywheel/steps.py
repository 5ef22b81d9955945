"""The seven steps of a flywheel run, each `step(run, echo)`: it does its work and records it on the run.

engine.flywheel.iteration runs them in order, saves the run after each, and skips those done.
Trainer work goes through engine.flywheel.jobs (the trainer CLI in a child process).
"""

import json
import re
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from engine.flywheel import collect, deploy, records, tail
from engine.flywheel.aggregate import export_aggregate
from engine.flywheel.jobs import run_trainer, run_trainer_command
from engine.flywheel.models import CheckpointStatus, Decision, FlywheelRun, ModelCheckpoint
from engine.flywheel.rules import decide, not_worse

# Per preset: the fixed held-out composites (`trainer prepare`, once per project) and how `compare` samples them.
HELDOUT = {"tiny": dict(n=16, eval_n=8, steps=8, points=1000, emd_points=64, icp=False, log_every=1),
           "cpu": dict(n=96, eval_n=64, steps=0, points=4000, emd_points=256, icp=True, log_every=25),
           "gpu": dict(n=512, eval_n=256, steps=0, points=10000, emd_points=512, icp=True, log_every=100)}
HELDOUT_SEED = 90210  # not a seed any training cache or simulated composite is made with
HELDOUT_SHAPES_PER_CATEGORY = {"tiny": 1, "cpu": 4, "gpu": 16}
PRESETS = ("tiny", "cpu", "gpu")
# DPO's loss + this weight x the chosen side's flow error (trainer dpo --sft-weight). Measured on the demo
# (iteration 1 export, 48 held-out composites x 2 seeds, Δ against the SFT checkpoint it starts from):
# weight 0 gave ΔvIoU -0.0192 ± 0.0066, weight 1 gave -0.0083 ± 0.0039. DPO alone moves the model away
# from its own samples faster than towards the chosen ones; the anchor keeps the chosen shapes likely.
DPO_SFT_WEIGHT = 1.0
# DPO-Positive's lambda (trainer dpo --dpop). Plain DPO raised the flow error of the chosen shapes above the SFT
# reference's (rewards/chosen < 0) while pushing the rejected ones further, and lowered held-out vIoU by
# 0.018 +- 0.006 against its SFT parent; with lambda = 50 it moved vIoU by +0.000 +- 0.004 (trainer/README.md,
# session 31). 0 is plain DPO.
DPO_DPOP = 50.0


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


def step_collect(run, echo):
    """Report progress towards the target; drive simulated annotators when the run asks for them."""
    iteration = run.iteration
    if run.options.get("simulate"):
        def on_task(stage, report):
            counts = report.get("counts", {})
            echo(f"[run {run.pk}] collect (simulated): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        report = collect.simulate(iteration, run.options["simulate"], artist_delay=run.options.get("artist_delay", 0.0),
                                  progress=_every(on_task, 2.0))
        run.counts = {**run.counts, "simulation": report}
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


def default_steps(stage):
    """Return the optimizer steps a post-training stage takes when not told (its config's default, any preset)."""
    from trainer.config import DPOConfig, TrainConfig

    return {"sft": TrainConfig, "dpo": DPOConfig}[stage]().steps


def _train(run, echo, stage, init, args, steps):
    total = steps or default_steps(stage)

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
    """SFT from the project's newest deployed checkpoint on the kept winners."""
    if run.baseline_id is None:
        run.baseline = deploy.newest_deployed(run.project)
        run.save(update_fields=["baseline"])
    if run.baseline is None:
        raise RunError("No checkpoint is deployed any more (rolled back?); promote one and resume.", "base")
    args = ["--data", str(Path(run.export_dir) / "train")]
    weight = run.options.get("category_loss")
    if weight:  # the samples' Stage 1 categories train π_{k-1}'s category head
        note = category_loss_note(run, weight)
        run.counts = {**run.counts, "category_loss": note}
        if isinstance(note, dict):
            args += ["--category-loss", weight]
        else:
            echo(f"[run {run.pk}] {note}")
    if run.options.get("replay"):  # the deployed model's own data beside the few new rows (trainer sft --replay)
        args += ["--replay", *run.options["replay"], "--replay-share", run.options["replay_share"]]
    run.sft_checkpoint = _train(run, echo, "sft", run.baseline.path, args, run.options.get("sft_steps"))


def checkpoint_categories(path):
    """The category head's vocabulary of the checkpoint at `path` ([] without a head)."""
    from trainer.checkpoints import read_manifest, resolve

    return read_manifest(resolve(path)).get("model_config", {}).get("categories") or []


def checkpoint_conditions_on_category(path):
    """Whether the checkpoint at `path` takes the object's category as a condition token (trainer ModelConfig)."""
    from trainer.checkpoints import read_manifest, resolve

    return bool(read_manifest(resolve(path)).get("model_config", {}).get("category_condition"))


def category_loss_note(run, weight):
    """{weight, samples, samples_in_vocabulary} when some training sample's Stage 1 category is one π_{k-1}'s head
    knows; else why SFT trains without the loss this time (the head's vocabulary is fixed at pretraining, and a
    project's categories need not all be in it: the loss has nothing to learn from, and the run goes on)."""
    vocabulary = set(checkpoint_categories(run.baseline.path))
    lines = (Path(run.export_dir) / "train" / "samples.jsonl").read_text().splitlines()
    categories = [json.loads(line).get("category") for line in lines if line.strip()]
    known = sum(1 for c in categories if c in vocabulary)
    if not known:
        return (f"category loss skipped: none of the {len(categories)} training samples' categories "
                f"({', '.join(sorted({c for c in categories if c})) or 'none'}) is in the vocabulary of "
                f"{run.baseline.name}'s category head")
    return {"weight": weight, "samples": len(categories), "samples_in_vocabulary": known}


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
    # A run recorded before DPO-Positive existed has no dpo_dpop: it resumes as it started, with plain DPO.
    args = ["--data", str(export / "train"), "--sft-weight", run.options.get("dpo_sft_weight", DPO_SFT_WEIGHT),
            "--dpop", run.options.get("dpo_dpop", 0.0)]
    if counts["heldout"]["dpo_pairs"]:
        args += ["--eval-data", str(export / "heldout")]
    # No --replay here: DPO's loss on the collected pairs is what lowers the held-out vIoU, not forgetting (with
    # replay DPO moved its SFT parent by -0.0137 +- 0.0054 vIoU, without by -0.0118 +- 0.0061; trainer/README.md).
    run.checkpoint = _train(run, echo, "dpo", run.sft_checkpoint.path, args, run.options.get("dpo_steps"))


def project_shapes(project, out, per_category, seed):
    """Write `per_category` procedural shapes of each of the project's categories to `out`; return the folder.

    The procedural generator is the engine's shape vocabulary: the suite proposes from it, and
    simulated annotators are shown its shapes. Shape i of seed s depends only on (s, i), so a
    seed of its own keeps a folder apart from every other (the truths use project.pk * 1000 + k).
    """
    from model_suite.procedural import CATEGORIES, generate_shapes

    out = Path(out)
    if not (out / "captions.jsonl").exists():
        categories = tuple(c for c in CATEGORIES if c in set(project.taxonomy)) or CATEGORIES
        staging = out.with_name(out.name + ".partial")
        generate_shapes(staging, per_category * len(categories), seed=seed, categories=categories)
        staging.rename(out)
    return out


def heldout_cache(project, preset):
    """Return the project's fixed held-out composites for a preset, made once by `trainer prepare`.

    They are render-paste composites of novel procedural shapes of the project's categories (a
    seed no training data uses): the shapes the engine collects, so the held-out set measures
    what post-training on the project's data can teach. Set FLYWHEEL_HELDOUT_SHAPES to a folder
    of meshes to hold out a project's own reference shapes instead.
    """
    out = Path(settings.RUNS_ROOT) / slug(project.name) / f"heldout-{preset}"
    if not (out / "index.json").exists():
        shapes = getattr(settings, "FLYWHEEL_HELDOUT_SHAPES", "") or project_shapes(
            project, out.with_name(f"heldout-shapes-{preset}"), HELDOUT_SHAPES_PER_CATEGORY[preset], HELDOUT_SEED)
        run_trainer_command("prepare", ["--config", preset, "--kind", "composite", "--n", HELDOUT[preset]["n"],
                                        "--seed", HELDOUT_SEED, "--shapes", shapes, "--primitives", 0, "--out", out])
    return out


def compare(run, a, b, name, with_pairs):
    """Run `trainer compare` of checkpoints a and b on the project's held-out set; return its report.

    With the held-out pairs, a is scored for preference against b (does it prefer the chosen shapes
    more than the deployed checkpoint does?), a DPO checkpoint too. Scored against its own SFT parent,
    which it had just been trained to beat on such pairs, DPO read 0.76 to 0.95 in session 30's demos
    while its held-out vIoU fell (trainer/README.md). Each checkpoint's
    rows are remembered in its folder, so scoring one again (π_k as the next run's baseline, the
    demo's table) samples nothing.
    """
    preset = _preset(run)
    h = HELDOUT[preset]
    out = run_dir(run) / f"{name}.json"
    args = ["--a", a.path, "--b", b.path, "--data", heldout_cache(run.project, preset), "--n", h["eval_n"],
            "--steps", h["steps"], "--points", h["points"], "--emd-points", h["emd_points"],
            "--icp" if h["icp"] else "--no-icp", "--out", out]
    if with_pairs and run.counts["export"]["heldout"]["dpo_pairs"]:
        args += ["--pairs", Path(run.export_dir) / "heldout", "--ref", b.path]
    run_trainer_command("compare", [*args, "--seeds", *run.options["seeds"]])
    return json.loads(out.read_text())


def summary(report):
    """The part of a `trainer compare` report a run keeps: both sides' metrics with SEs, the paired deltas."""
    return {"before": {k: report["b"][k] for k in ("metrics", "metrics_se")},
            "after": {k: report["a"][k] for k in ("metrics", "metrics_se")},
            **{k: report[k] for k in ("n", "seeds", "delta", "delta_se", "preference", "metric_directions")}}


def step_evaluate(run, echo):
    """Score the SFT and DPO checkpoints against π_{k-1} on the fixed held-out set; choose π_k; mark it EVALUATED.

    Every stage pays its way: DPO's checkpoint is π_k only when it is not worse than the SFT
    checkpoint it started from beyond noise (the promotion rule's bound, on their paired Δ).
    Otherwise π_k is the SFT checkpoint, and the run says why under comparison["dpo_stage"].
    comparison["sft"] and comparison["dpo"] hold each against π_{k-1} (pretrain → SFT → DPO, the
    cascading-improvements table); the top level is π_k's, which the rule decides on.
    """
    sft = summary(compare(run, run.sft_checkpoint, run.baseline, "compare-sft", with_pairs=True))
    result = sft
    if run.checkpoint_id != run.sft_checkpoint_id:
        dpo = summary(compare(run, run.checkpoint, run.baseline, "compare-dpo", with_pairs=True))
        stage = summary(compare(run, run.checkpoint, run.sft_checkpoint, "compare-dpo-sft", with_pairs=False))
        pays, change = not_worse(run.project, stage)
        stage["pays"] = bool(pays)
        stage["reason"] = (f"DPO against SFT: {change}; " + ("π_k is the DPO checkpoint" if pays else
                           "DPO did not pay its way, so π_k is the SFT checkpoint"))
        echo(f"[run {run.pk}] {stage['reason']}")
        if pays:
            result = dpo
        else:
            run.checkpoint = run.sft_checkpoint
        result = {**result, "sft": sft, "dpo": dpo, "dpo_stage": {k: stage[k] for k in (
            "delta", "delta_se", "pays", "reason")}}
    run.metrics_before, run.metrics_after = result.pop("before"), result.pop("after")
    run.comparison = result
    ModelCheckpoint.objects.filter(pk=run.checkpoint_id, status=CheckpointStatus.TRAINED).update(
        status=CheckpointStatus.EVALUATED)
    metric = run.project.promote_metric
    before, after = run.metrics_before["metrics"], run.metrics_after["metrics"]
    echo(f"[run {run.pk}] held-out {metric} of π_k ({run.checkpoint.stage}): {before.get(metric, float('nan')):.4f} → "
         f"{after.get(metric, float('nan')):.4f} (Δ {result['delta'].get(metric, float('nan')):+.4f} ± "
         f"{result['delta_se'].get(metric) or 0:.4f})")


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
         + ", ".join(c.name for c in deploy.deployed(project)) + f"; {len(offered)} failed objects offered again")


