"""`python -m trainer bench`: the `cpu` config end to end, printed as JSON (never asserted in tests).

Pipeline (all data synthetic until the engine feeds real annotations):
  renders -> pretrain; composites -> mid-training; *held-apart* composites -> SFT;
  pairs of the SFT model's own samples ordered by Chamfer to the ground truth -> DPO;
  shortcut distillation of the DPO model; held-out composites for every evaluation.
Shapes: the model suite's procedural vocabulary (--shapes, a folder of `python -m model_suite.procedural`),
split by trainer.data.splits: 16 categories x 48 instances train every stage; held out are two sets,
evaluated and reported apart (`splits`): `novel_instances`, 16 new instances of each training category
(the main set: samplers, goals), and `novel_categories`, the 4 categories of NOVEL_CATEGORIES, which no
training set contains (no per-category mean shape there: the report says so instead).
Figures: SFT samples/s and model-FLOPs utilisation against a measured fp32 matmul peak,
DPO step / SFT step (same batch, same process), 4-step shortcut / 25-step CFG sampling time,
both samplers' vIoU and how closely the shortcut follows the flow sampler (`sampler_agreement`),
and the stage table: F1@0.01, F1@0.05 (a threshold the 32^3 grid resolves), vIoU, Chamfer and EMD
per stage over the held-out rows x seeds 0 and 1, each with its standard error, plus F1@0.01 the
paper's way (`f1@0.01_dense`, --dense-points per surface, seed 0 only); every stage-to-stage change
as a paired difference with its standard error (`stage_deltas`); the reference rows on the same
rows (trainer.references: VAE-reconstruction ceiling, mean-shape and per-category mean-shape
floors, the nearest training shape, the truth resampled); the distilled model's shuffled-image gap
and unconditional sampler (`image_use`), for each split; and `goals`, the figures DESIGN.md holds us
to, on the novel instances. The splits' tables are also printed as Markdown (stderr, bench.md).
The fair comparisons (issue 18): a stage row scores one sample, the mean-shape floors are point estimates.
So each split also has `consensus of K (stage)`, the best stage's point estimate (`--consensus`, K = 4
samples per row, seeds 0..K-1, trainer.evaluate.consensus) read against the floors
(`goals.best_share_point_estimate`), and the reference row `category_random_instance`, a sampler that knows
only the category, against which the single samples are read (`goals.best_share_over_sampler_floor`);
`best_share` stays the single-sample goal. `--only-point-estimates` adds just these to a finished work dir.
`--scale 0.05` makes a smoke run; `--config tiny` a test-sized one.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from .bench_table import split_tables
from .checkpoints import load_checkpoint
from .config import MODEL_PRESETS, DataConfig, DistillConfig, DPOConfig, SampleConfig, TrainConfig
from .data.cache import prepare, shape_names
from .data.loader import attach_categories, open_dataset
from .data.splits import split_vocabulary
from .data.views import views_to_tensor
from .dpo import dpo_step
from .evaluate import (category_use, dataset_category_ids, evaluate_consensus, evaluate_model, image_use, paired,
                       standard_error)
from .flow import loss_weights
from .latents import attach_latents
from .loop import make_optimizer, step_generator
from .objectives import FlowObjective
from .pairs import make_self_pairs
from .references import (SAMPLER_FLOORS, floor_to_ceiling, mean_over_draws, missing_categories, reference_rows,
                         row_categories)
from .sampling import sample_views
from .sft import sft_step

STAGE_METRICS = ("f1@0.01", "f1@0.05", "f1@0.01_dense", "viou", "chamfer", "emd")
STAGES = ("pretrain", "midtrain", "sft", "dpo", "distill")


MATMUL_N = 2048


def matmul_fn():
    """One fp32 (2048 x 2048) @ (2048 x 2048) product: 2 n^3 FLOPs, the peak reference."""
    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    return lambda: a @ b


def interleaved(fns: dict, reps: int) -> dict:
    """Run each callable once per round, `reps` rounds, interleaved so background load hits all
    alike; return {name: list of seconds}. On a shared machine the min and the per-round ratios
    are the figures least distorted by other processes."""
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return times


def median(xs) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


def round_ratio(times: dict, num: str, den: str) -> float:
    """Median over rounds of num/den measured back to back."""
    return median([a / b for a, b in zip(times[num], times[den])])


def train_step_fn(step_fn, objective, dataset, batch_size: int):
    """A closure running one optimizer step on a fixed batch, and the FLOPs of one step."""
    opt = make_optimizer(objective.parameters(), TrainConfig(lr=1e-6))
    batch = dataset.batch([r % len(dataset) for r in range(batch_size)])
    counter = iter(range(10 ** 9))

    def one():
        loss, _ = step_fn(objective, batch, step_generator(0, next(counter), 0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one()
    with FlopCounterMode(display=False) as fc:
        one()
    return one, float(fc.get_total_flops())


def sampler_figures(model, heldout, n: int, reps: int, seeds=(0, 1, 2, 3), dense_points: int = 0,
                    flow_rows: list | None = None) -> tuple[dict, list[dict]]:
    """Sampling time of 25-step CFG flow vs 4-step shortcut (same batch, interleaved), and both vIoUs.

    The vIoUs are paired: both samplers score the same rows from the same noise, once per seed, so
    the relative difference carries a standard error (`shortcut_viou_rel_diff_se`) far below that
    of either mean (the rows' difficulty cancels). Four seeds: on the 96 held-out rows one seed's
    4-step samples swing the gap by several points (session 7: -10.7 % +- 3.3 % on seeds 0-1,
    -7.8 % +- 2.8 % on seeds 2-3 of one checkpoint). Also returns the flow sampler's rows of the
    first seed: the stage table's row of this checkpoint, which need not be sampled twice (with
    f1@0.01_dense when dense_points > 0); a `flow_rows` list receives the flow rows of every seed.
    """
    first16 = list(range(min(16, len(heldout))))
    views, cat = views_to_tensor(heldout.batch(first16)["views"]), dataset_category_ids(model, heldout, first16)
    t = interleaved({"flow": lambda: sample_views(model, views, 0, mode="flow", steps=25, category=cat),
                     "shortcut": lambda: sample_views(model, views, 0, mode="shortcut", steps=4, category=cat)}, reps)
    out = {"batch": len(views), "flow_25_cfg_sec_min": min(t["flow"]), "flow_25_cfg_sec_median": median(t["flow"]),
           "shortcut_4_sec_min": min(t["shortcut"]), "shortcut_4_sec_median": median(t["shortcut"]),
           "shortcut_over_flow_time": round_ratio(t, "shortcut", "flow")}
    viou, first = {}, []
    for mode, steps in (("flow", 25), ("shortcut", 4)):
        dense = lambda seed: dense_points if mode == "flow" and seed == seeds[0] else 0
        rows = [evaluate_model(model, heldout, n, mode=mode, steps=steps, seed=seed, dense_points=dense(seed))["rows"]
                for seed in seeds]
        first = rows[0] if mode == "flow" else first
        if mode == "flow" and flow_rows is not None:
            flow_rows.extend(rows)
        viou[mode] = np.array([r["viou"] for seed_rows in rows for r in seed_rows])
        out[f"{mode}_viou"] = float(viou[mode].mean())
    flow = max(out["flow_viou"], 1e-9)
    diff = viou["shortcut"] - viou["flow"]
    out["viou_samples"] = len(diff)
    out["shortcut_viou_rel_diff"] = float(diff.mean()) / flow
    out["shortcut_viou_rel_diff_se"] = _se(diff) / flow
    return out, first


def agreement_rows(lat_a: torch.Tensor, lat_b: torch.Tensor, occ_a: np.ndarray, occ_b: np.ndarray) -> dict:
    """Per-sample agreement of sample a with reference sample b from the same noise: the latent's
    relative squared error |a - b|^2 / |b|^2 and the IoU of the two voxel sets (two empty sets agree)."""
    rel = (lat_a - lat_b).pow(2).flatten(1).sum(1) / lat_b.pow(2).flatten(1).sum(1).clamp_min(1e-12)
    a, b = occ_a.reshape(len(occ_a), -1), occ_b.reshape(len(occ_b), -1)
    inter, union = (a & b).sum(1), (a | b).sum(1)
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return {"latent_rel_sq_err": rel.double().numpy(), "voxel_iou": iou}


def sampler_agreement(model, heldout, n: int, seed: int = 0, batch_size: int = 32) -> dict:
    """How closely the 4-step shortcut follows the same checkpoint's 25-step CFG flow sampler, from
    the same noise on the first n held-out rows, with no ground truth and no ICP: each row's latent
    relative squared error and voxel IoU (thresholded occupancy) between the two samplers, as means
    with standard errors. A perfect distillation scores 0 and 1. Unlike the vIoU gap, which compares
    two noisy distances to the ground truth, this measures the distillation itself: two distillations
    of one checkpoint that differ only in their seed agreed to about 0.01 (session 9). For scale, the
    undistilled model's uniform-grid CFG Euler against its 25-step sampler on 48 rows: 4 steps
    0.41 / 0.50, 8 steps 0.28 / 0.62, 16 steps 0.11 / 0.78, 64 steps 0.004 / 0.98. The distillation's
    teacher start (trainer.distill) took one checkpoint from 0.228 / 0.678 to 0.162 / 0.735 over
    2 seeds (session 12); most of what remains is the first step, from pure noise."""
    rows = {"latent_rel_sq_err": [], "voxel_iou": []}
    threshold = getattr(model, "sample_config", SampleConfig()).threshold
    n = min(n, len(heldout))
    for start in range(0, n, batch_size):
        idx = list(range(start, min(n, start + batch_size)))
        views, cat = views_to_tensor(heldout.batch(idx)["views"]), dataset_category_ids(model, heldout, idx)
        flow = sample_views(model, views, seed + start, mode="flow", steps=25, category=cat)
        short = sample_views(model, views, seed + start, mode="shortcut", steps=4, category=cat)
        voxels = short[0].numpy() >= threshold, flow[0].numpy() >= threshold
        for k, v in agreement_rows(short[4], flow[4], *voxels).items():
            rows[k].extend(v.tolist())
    out = {"rows": len(rows["voxel_iou"]), "seed": seed}
    for k, v in rows.items():
        out[k], out[f"{k}_se"] = float(np.mean(v)), _se(v)
    return out


def _se(x) -> float:
    """The standard error of the mean of x, NaN (JSON-able as a float) for fewer than two values."""
    se = standard_error(x)
    return float("nan") if se is None else se


def summarize(rows: list[dict], keys=STAGE_METRICS + ("empty",)) -> dict:
    """Return each metric's mean over the held-out rows and its standard error as `<metric>_se`.

    The table has few rows (96 at `--scale 1.0`), so a stage-to-stage difference of one or two
    standard errors is noise; the errors are printed so the table is not over-read.
    """
    out = {}
    for k in keys:
        x = np.array([r[k] for r in rows], dtype=np.float64)
        out[k] = float(x.mean())
        out[f"{k}_se"] = _se(x)
    return out


def stage_rows(model, heldout, n: int, seeds=(0, 1), dense_points: int = 0) -> list[list[dict]]:
    """Rows [seed][row] of the 25-step flow sampler on the first n held-out rows; f1@0.01_dense on the first seed."""
    return [evaluate_model(model, heldout, n, mode="flow", steps=25, seed=s, progress=False,
                           dense_points=dense_points if s == seeds[0] else 0)["rows"] for s in seeds]


def summarize_seeds(rows: list[list[dict]], keys=STAGE_METRICS + ("empty",)) -> dict:
    """Each metric's mean and standard error (`<metric>_se`) over held-out rows, each row first
    averaged over the seeds that have the metric (seeds are replicates of a row, not new rows)."""
    out = {}
    for k in keys:
        per_row = [np.mean([seed_rows[i][k] for seed_rows in rows if k in seed_rows[i]]) for i in range(len(rows[0]))
                   if any(k in seed_rows[i] for seed_rows in rows)]
        if per_row:
            out[k], out[f"{k}_se"] = float(np.mean(per_row)), _se(per_row)
    return out


def stage_deltas(rows: dict, order=STAGES) -> dict:
    """{'a -> b': {delta, delta_se, improves_2se}} of consecutive stages, paired on rows x seeds.

    improves_2se: vIoU or Chamfer improves by more than twice its paired standard error (the goal).
    """
    from .evaluate import HIGHER_IS_BETTER
    out = {}
    names = [s for s in order if s in rows]
    for a, b in zip(names[:-1], names[1:]):
        delta, se = paired(rows[b], rows[a])
        better = {k: (delta[k] > 0) == HIGHER_IS_BETTER[k] and abs(delta[k]) > 2 * (se[k] or float("inf"))
                  for k in ("viou", "chamfer") if k in delta}
        out[f"{a} -> {b}"] = {"delta": delta, "delta_se": se, "improves_2se": any(better.values())}
    return out


CONSENSUS_RULE = ("per row, the voxels most of the K samples occupy, as many as the samples' mean volume "
                  "(trainer.evaluate.consensus: the rule of the mean-shape floors, applied to the model's samples)")


def best_stage(table: dict) -> str:
    """The stage of highest single-sample vIoU in a stage table (the first of equals, in STAGES order)."""
    names = [s for s in STAGES if s in table and "viou" in table[s]]
    return max(names, key=lambda s: table[s]["viou"])


def consensus_row(run, heldout, k: int, stage: str, dense_points: int = 0, single_rows: list | None = None):
    """(info, summary): the consensus of k flow samples (25 steps, seeds 0 .. k-1) of one run on every row
    of `heldout`, summarised like a stage row. Its seeds 0 and 1 are the stage table's samples of that
    run; `single_rows` [seed][row] (the table's rows of the run) give the paired gain over one sample."""
    t = time.time()
    res = evaluate_consensus(load_checkpoint(run)[0], heldout, len(heldout), k=k, mode="flow", steps=25,
                             progress=False, dense_points=dense_points)
    info = {"stage": stage, "k": k, "seeds": res["seeds"], "row": f"consensus of {k} ({stage})", "rule": CONSENSUS_RULE,
            "sample_sec_per_row": res["sample_sec_per_item"], "score_sec_per_row": res["score_sec_per_item"],
            "sec": time.time() - t}
    if single_rows:
        info["over_one_sample"], info["over_one_sample_se"] = paired([res["rows"]], [mean_over_draws(single_rows)])
        info["over_one_sample_note"] = ("paired per row: the consensus minus the mean of the stage's single samples "
                                        f"of seeds {list(range(len(single_rows)))}")
    return info, summarize_seeds([res["rows"]])


def point_estimate_goals(split: dict) -> dict:
    """The fair-comparison figures of one split: the consensus row's floor-to-ceiling share (a point estimate
    against the mean-shape floors, also point estimates) and each stage's single sample read against the
    category's random instance (a sample against a sampler that knows only the category)."""
    table, refs, out = split["stage_table"], split["stage_table_bounds"], {}
    pe = split.get("point_estimate")
    if pe and pe["row"] in table:
        share = floor_to_ceiling(table[pe["row"]], refs)
        out.update({"point_estimate_row": pe["row"], "best_share_point_estimate": share,
                    "best_share_point_estimate_at_least_half": bool(share) and all(v >= 0.5 for v in share.values())})
    if "category_random_instance" in refs:
        shares = {name: floor_to_ceiling(table[name], refs, floors=SAMPLER_FLOORS) for name in STAGES if name in table}
        out["share_over_sampler_floor"] = shares
        out["best_share_over_sampler_floor"] = {k: max(s.get(k, float("-inf")) for s in shares.values())
                                                for k in ("viou", "chamfer")}
    return out


def evaluate_split(runs: dict, heldout, train, heldout_categories: list[str] | None,
                   train_categories: list[str] | None, seeds=(0, 1), dense_points: int = 0,
                   distill_rows: list | None = None, consensus_k: int = 4, name_of_split: str = "",
                   progress: bool = True) -> dict:
    """One held-out split on its own: every stage's table row, the stage deltas, the distilled model's image
    use (shuffled image, null condition) and the reference rows, all on the same rows and seeds.

    `distill_rows` [seed][row] are the distilled model's flow rows when already sampled (the samplers' figures).
    With consensus_k, also the point estimate of the best stage (by single-sample vIoU): `consensus of K
    (stage)`, the consensus of K samples per row (`consensus_row`); the reference rows include the category's
    random training instance once per seed (`category_random_instance`, where categories are known).
    With `progress`, a bar on stderr counts the parts (a stage's rows, image use, ...) and names the one under way.
    """
    n = len(heldout)
    distilled = load_checkpoint(runs["distill"])[0]
    parts = ([name for name in STAGES if not (name == "distill" and distill_rows is not None)] + ["image use"]
             + (["category use"] if distilled.cfg.category_condition else []) + (["consensus"] if consensus_k else [])
             + ["references"])
    bar = tqdm(total=len(parts), desc=f"evaluate {name_of_split or 'split'} ({n} rows x {len(seeds)} seeds)",
               unit="part", disable=not progress)
    begun = []

    def part(label):   # the bar names the part under way, and counts the one before it as done
        if begun:
            bar.update(1)
        begun.append(label)
        bar.set_postfix_str(label)

    rows = {}
    for name in STAGES:
        if name == "distill" and distill_rows is not None:
            rows[name] = distill_rows[:len(seeds)]
            continue
        part(name)
        rows[name] = stage_rows(load_checkpoint(runs[name])[0], heldout, n, seeds, dense_points)
    out = {"rows": n, "seeds": list(seeds), "categories": sorted(set(heldout_categories or [])),
           "stage_table": {name: summarize_seeds(r) for name, r in rows.items()},
           "stage_table_note": (f"{n} held-out rows x seeds {list(seeds)}; f1@0.01_dense is F1@0.01 on "
                                f"{dense_points} points per surface (seed 0), read against the ground_truth bound, its "
                                "sampling ceiling; f1@0.05 is on 10k points, below one voxel (0.0625) of the grid"
                                if dense_points else f"{n} held-out rows x seeds {list(seeds)}; no f1@0.01_dense "
                                "(--dense-points 0 for this split)"),
           "stage_deltas": stage_deltas(rows)}
    part("image use")
    use = image_use(distilled, heldout, n, seeds=seeds, own_rows=rows["distill"], mode="flow", steps=25, progress=False)
    out["image_use"] = {k: v for k, v in use.items() if k != "rows"}
    out["stage_table"]["unconditional (distill)"] = summarize_seeds(use["rows"]["none"])
    out["stage_table"]["shuffled image (distill)"] = summarize_seeds(use["rows"]["shuffled"])
    if distilled.cfg.category_condition:
        part("category use")
        use = category_use(distilled, heldout, n, seeds=seeds, own_rows=rows["distill"], mode="flow", steps=25,
                           progress=False)
        out["category_use"] = {k: v for k, v in use.items() if k != "rows"}
        out["stage_table"]["category unknown (distill)"] = summarize_seeds(use["rows"]["no_category"])
    if consensus_k:
        part("consensus")
        stage = best_stage(out["stage_table"])
        out["point_estimate"], row = consensus_row(runs[stage], heldout, consensus_k, stage, dense_points, rows[stage])
        out["stage_table"][out["point_estimate"]["row"]] = row
    part("references")
    out["stage_table_bounds"] = reference_rows(load_checkpoint(runs["sft"])[0], heldout, train, n,
                                               dense_points=dense_points, heldout_categories=heldout_categories,
                                               train_categories=train_categories, keys=STAGE_METRICS + ("empty",),
                                               draws=seeds)
    out.update(missing_category_notes(out["stage_table_bounds"], heldout_categories, train_categories))
    out["floor_to_ceiling_share"] = {name: floor_to_ceiling(out["stage_table"][name], out["stage_table_bounds"])
                                     for name in out["stage_table"] if name in STAGES or name.startswith("consensus")}
    bar.update(1)
    bar.close()
    return out


def missing_category_notes(refs: dict, heldout_categories, train_categories) -> dict:
    """{row: why it is missing} for the per-category reference rows a split cannot have."""
    missing = missing_categories(heldout_categories or [], train_categories or [])
    why = (f"none: no training row shows {', '.join(missing)}, so a per-category {{}} cannot exist here" if missing
           else "none: the caches name no categories")
    out = {}
    if "category_mean_shape" not in refs:
        out["category_mean_shape"] = why.format("mean shape") + ("; the floor is the mean shape alone" if missing else "")
    if "category_random_instance" not in refs:
        out["category_random_instance"] = why.format("random instance")
    return out


def goals(report: dict) -> dict:
    """The figures DESIGN.md and issue 18 hold the cpu config to, read off a bench report (novel instances)."""
    split = report["splits"]["novel_instances"]
    table, refs = split["stage_table"], split["stage_table_bounds"]
    shares = {name: floor_to_ceiling(table[name], refs) for name in STAGES if name in table}
    best = {k: max(s.get(k, float("-inf")) for s in shares.values()) for k in ("viou", "chamfer")}
    gap, gap_se = split["image_use"]["gap"].get("viou"), split["image_use"]["gap_se"].get("viou")
    samplers, thr = report.get("samplers", {}), report.get("throughput", {})
    return {"floor_to_ceiling_share": shares, "best_share": best,
            "best_share_at_least_half": all(v >= 0.5 for v in best.values()),
            # Not the goal above: the fair comparisons, a point estimate against the point-estimate floors and a
            # single sample against a sampler that knows only the category (trainer.references).
            **point_estimate_goals(split),
            "shuffled_image_gap_viou": gap, "shuffled_image_gap_viou_se": gap_se,
            "shuffled_image_gap_at_least_0.10": gap is not None and gap >= 0.10,
            "stages_improve_2se": {k: v["improves_2se"] for k, v in split["stage_deltas"].items()},
            "dpo_over_sft_step_at_most_2.5": thr.get("dpo_over_sft_step", float("inf")) <= 2.5,
            "shortcut_over_flow_time_at_most_0.2": samplers.get("shortcut_over_flow_time", float("inf")) <= 0.2,
            "shortcut_viou_within_10pct": abs(samplers.get("shortcut_viou_rel_diff", float("inf"))) <= 0.10}


def point_estimates(args) -> dict:
    """Only the fair-comparison rows of a finished bench work dir, from its checkpoints and caches (no training,
    no stage table again): per split, `consensus of K (stage)` and `category_random_instance`, their shares
    and the point-estimate goals, merged with WORK/bench.json's stage table and reference rows when it exists
    (the stage: the best by single-sample vIoU there, else --point-estimate-stage or distill). Writes
    WORK/point_estimates.json and .md; prints the JSON."""
    work, prev_path = Path(args.work), Path(args.work) / "bench.json"
    prev = json.loads(prev_path.read_text()) if prev_path.exists() else None
    config = prev["config"] if prev else getattr(args, "config", "cpu")
    poses = prev.get("poses", "upright") if prev else getattr(args, "poses", "upright")
    size, k = MODEL_PRESETS[config], getattr(args, "consensus", 4)
    if k < 1:
        raise ValueError(f"--only-point-estimates needs --consensus >= 1 samples per row, got {k}")
    data = work / "data" / f"procedural-{poses}"
    runs = {name: work / "runs" / name for name in STAGES}
    for path in [data / "sft", *runs.values()]:
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: --only-point-estimates reads a finished bench's work dir")
    dense = getattr(args, "dense_points", 100_000)
    t_start = time.time()
    train = open_dataset(str(data / "sft"), size["grid"], size["image_size"])
    sft_model = load_checkpoint(runs["sft"])[0]
    train_cats = row_categories(train, shape_names(data / "sft"))
    report = {"work": str(work), "bench_json": str(prev_path) if prev else None, "config": config, "k": k,
              "load_avg_at_start": os.getloadavg(), "torch_threads": torch.get_num_threads(), "splits": {}}
    for key, folder in (("novel_instances", "heldout-novel-instances"), ("novel_categories", "heldout-novel-categories")):
        t = time.time()
        split = open_dataset(str(data / folder), size["grid"], size["image_size"])
        cats, old = row_categories(split, shape_names(data / folder)), (prev or {}).get("splits", {}).get(key)
        seeds = tuple(old["seeds"]) if old else ((0, 1) if key == "novel_instances" else (0,))
        dense_k = dense if key == "novel_instances" else 0
        stage = best_stage(old["stage_table"]) if old else (getattr(args, "point_estimate_stage", "") or "distill")
        refs = reference_rows(sft_model, split, train, len(split), dense_points=dense_k, heldout_categories=cats,
                              train_categories=train_cats, keys=STAGE_METRICS + ("empty",), draws=seeds,
                              only=("category_random_instance",) if old else None)
        info, row = consensus_row(runs[stage], split, k, stage, dense_k)
        table = {**(old["stage_table"] if old else {}), info["row"]: row}
        bounds = {**(old["stage_table_bounds"] if old else {}), **refs}
        if old and stage in old["stage_table"]:
            info["over_one_sample_unpaired"] = {m: row[m] - old["stage_table"][stage][m] for m in ("viou", "chamfer")
                                                if m in row and m in old["stage_table"][stage]}
        out = {"rows": len(split), "seeds": list(seeds), "point_estimate": info,
               "new_rows": {info["row"]: row, **{name: r for name, r in refs.items() if name == "category_random_instance"}},
               "stage_table": table, "stage_table_bounds": bounds,
               **missing_category_notes(bounds, cats, train_cats)}
        out["floor_to_ceiling_share"] = {name: floor_to_ceiling(table[name], bounds) for name in table
                                         if name in STAGES or name.startswith("consensus")}
        out["goals"] = point_estimate_goals(out)
        out["evaluation_sec"] = time.time() - t
        report["splits"][key] = out
    report["total_sec"] = time.time() - t_start
    report["load_avg_at_end"] = os.getloadavg()
    text = json.dumps(report, indent=2, default=float)
    (work / "point_estimates.json").write_text(text)
    (work / "point_estimates.md").write_text(point_estimate_tables(report))
    print(text)
    print(point_estimate_tables(report), file=sys.stderr)
    return report


def point_estimate_tables(report: dict) -> str:
    """The new rows of `point_estimates` beside the rows they are read against, per split, as Markdown."""
    from .bench_table import cell
    parts = []
    for key, split in report["splits"].items():
        table, refs = split["stage_table"], split["stage_table_bounds"]
        stage = split["point_estimate"]["stage"]
        names = [(stage, table), (split["point_estimate"]["row"], table)] + [
            (r, refs) for r in ("mean_shape", "category_mean_shape", "category_random_instance", "vae_reconstruction")]
        lines = [f"{key}: {split['rows']} rows", "", "| | viou | chamfer | f1@0.05 | f1@0.01_dense |",
                 "| --- | --- | --- | --- | --- |"]
        lines += [f"| {name} | " + " | ".join(cell(src[name], m) for m in ("viou", "chamfer", "f1@0.05", "f1@0.01_dense"))
                  + " |" for name, src in names if name in src]
        lines += [f"| {name} | {split[name]} | | | |" for name in ("category_mean_shape", "category_random_instance")
                  if name in split]
        lines += ["", "goals: " + json.dumps(split["goals"], default=float)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    if getattr(args, "only_point_estimates", False):
        return point_estimates(args)
    work, s = Path(args.work), args.scale
    config = getattr(args, "config", "cpu")
    train_scale = getattr(args, "train_scale", 1.0)
    seed = getattr(args, "seed", 0)
    n = lambda x: max(2, int(round(x * s)))
    nt = lambda x: max(2, int(round(x * s * train_scale)))
    t_start = time.time()
    named = bool(getattr(args, "category_text", False))   # the category by its name's embedding (implies given)
    given = named or bool(getattr(args, "category_condition", False))
    report = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "processor": platform.processor() or platform.machine(), "torch": torch.__version__,
                          "load_avg_at_start": os.getloadavg()},
              "config": config, "scale": s, "train_scale": train_scale, "seed": seed,
              "poses": getattr(args, "poses", "upright"), "encoder": getattr(args, "encoder", "") or "preset",
              "cond_layers": getattr(args, "cond_layers", -1), "category_loss": getattr(args, "category_loss", 0.0),
              "category_condition": given, "category_text": named,
              "data_note": "SFT uses render-paste composites held apart from mid-training; DPO uses pairs of the "
                           "SFT model's own samples ordered by Chamfer distance to the ground truth. Every "
                           "training set shows the training instances of the training categories; the novel "
                           "instances and the novel categories are in none of them, as targets or as occluders."}
    # 1. Data --------------------------------------------------------------------------------
    t = time.time()
    shapes = Path(getattr(args, "shapes", "") or work / "shapes")
    vocabulary = split_vocabulary(shapes, train_per_category=n(48), novel_per_category=n(16))
    report["vocabulary"] = {"folder": str(shapes), "train_categories": vocabulary.train_category_names,
                            "novel_categories": vocabulary.novel_category_names,
                            "train_instances": len(vocabulary.train), "novel_instances": len(vocabulary.novel_instances),
                            "novel_category_instances": len(vocabulary.novel_categories)}
    poses = getattr(args, "poses", "upright")
    size = MODEL_PRESETS[config]
    d = lambda paths, **kw: DataConfig(grid=size["grid"], render_size=2 * size["image_size"], image_size=size["image_size"],
                                       shapes=[str(p) for p in paths], primitives=0, poses=poses, **kw)
    data = work / "data" / f"procedural-{poses}"
    caches = {"render": d(vocabulary.train, out=str(data / "render"), kind="render", n=n(6144), seed=0),
              "mid": d(vocabulary.train, out=str(data / "mid"), kind="composite", n=n(6144), seed=1),
              "sft": d(vocabulary.train, out=str(data / "sft"), kind="composite", n=n(3072), seed=2),
              # The held-out sets draw targets and occluders from their own shapes only (seeds of their own).
              "novel_instances": d(vocabulary.novel_instances, out=str(data / "heldout-novel-instances"),
                                   kind="composite", n=n(96), seed=1000),
              # Half the rows of the main set: its evaluation repeats every stage's sampling (~1/4 of the bench).
              "novel_categories": d(vocabulary.novel_categories, out=str(data / "heldout-novel-categories"),
                                    kind="composite", n=n(48), seed=2000)}
    for c in caches.values():
        if not (Path(c.out) / "index.json").exists():
            prepare(c)
    report["data_sec"] = time.time() - t
    # 2. Training stages ---------------------------------------------------------------------
    # The training seed fixes initial weights, batch order, noise and the self-pairs' samples; the data
    # and the held-out set do not depend on it, so runs with other seeds are replicates of one recipe.
    base = TrainConfig(config=config, encoder=getattr(args, "encoder", ""), batch_size=32, log_every=10, ckpt_every=100,
                       warmup=20, seed=seed, cond_layers=getattr(args, "cond_layers", -1),
                       category_loss=getattr(args, "category_loss", 0.0),
                       category_condition=given, category_text=named)
    runs = {}
    # Data is cheap (the caches take a few minutes) and steps are not: with 768 renders and 768 composites
    # the image pathway overfitted (SFT train loss 0.45 against held-out 0.86, and samples barely
    # changed with the image), so each stage sees a few epochs of a large cache instead of many of a
    # small one. Steps: 250 VAE, 1200 + 800 + 400 flow, 60 DPO, 400 distillation (35 min measured on
    # 2 cores at load average ~2, about 0.4 s per flow step of 32; the 4-seed sampler figures add ~6 min).
    stages = [("pretrain", dict(data=[caches["render"].out], steps=nt(1200), vae_steps=n(250), lr=4e-4)),
              ("midtrain", dict(data=[caches["mid"].out], steps=nt(800), lr=2e-4, init="pretrain")),
              ("sft", dict(data=[caches["sft"].out], steps=nt(400), lr=1e-4, init="midtrain"))]
    from . import dpo, distill, sft
    for name, kw in stages:
        init = str(runs[kw.pop("init")]) if "init" in kw else ""
        cfg = replace(base, stage=name, out=str(work / "runs" / name), init=init, eval_data=caches["novel_instances"].out, **kw)
        t = time.time()
        sft.train(cfg)
        runs[name] = Path(cfg.out)
        report[f"{name}_sec"] = time.time() - t
    sft_model, _ = load_checkpoint(runs["sft"])
    grid, image_size = size["grid"], size["image_size"]
    sft_data = open_dataset(caches["sft"].out, grid, image_size)
    t = time.time()
    pairs_out = data / "pairs"
    if not (pairs_out / "index.json").exists():
        make_self_pairs(sft_model, sft_data.subset(range(min(len(sft_data), n(128)))), str(pairs_out), k=4, steps=10, seed=seed)
    report["pairs_sec"] = time.time() - t
    t = time.time()
    dcfg = DPOConfig(config=config, init=str(runs["sft"]), out=str(work / "runs/dpo"), data=[str(pairs_out)],
                     steps=n(60), batch_size=16, lr=2e-5, warmup=5, beta=1000.0, log_every=10, ckpt_every=100, seed=seed)
    dpo.train(dcfg)
    runs["dpo"] = Path(dcfg.out)
    report["dpo_sec"] = time.time() - t
    report["dpo_final"] = json.loads((runs["dpo"] / "log.jsonl").read_text().splitlines()[-1])
    t = time.time()
    xcfg = DistillConfig(config=config, init=str(runs["dpo"]), out=str(work / "runs/distill"), data=[caches["sft"].out],
                         steps=n(400), batch_size=32, lr=1e-4, warmup=10, log_every=10, ckpt_every=100, seed=seed)
    distill.train(xcfg)
    runs["distill"] = Path(xcfg.out)
    report["distill_sec"] = time.time() - t
    # 3. Step-time figures, measured in this process on the same batch size --------------------
    model, _ = load_checkpoint(runs["sft"], weights="model")
    model.train().set_trainable(category_head=base.category_loss > 0)
    ref, _ = load_checkpoint(runs["sft"])
    ref.requires_grad_(False)
    B, reps = 16, 10 if config != "tiny" else 2
    pairs = open_dataset(str(pairs_out), grid, image_size, kind="pairs")
    sft_sub = attach_latents(model, sft_data.subset(range(min(B, len(sft_data)))), progress=False)
    if base.category_loss > 0 or model.cfg.category_condition:   # the SFT step is timed as it trains
        attach_categories(sft_sub, model)
    pair_sub = attach_latents(model, pairs.subset(range(min(B, len(pairs)))), progress=False)
    if model.cfg.category_condition:   # the DPO step is timed as it trains, each pair given its category
        attach_categories(pair_sub, model)
    obj = FlowObjective(model, loss_weights(base))
    sft_fn, sft_flops = train_step_fn(sft_step(base, model), obj, sft_sub, B)
    dpo_fn, _ = train_step_fn(dpo_step(dcfg, model, FlowObjective(ref, loss_weights(dcfg))), obj, pair_sub, B)
    t = interleaved({"sft": sft_fn, "dpo": dpo_fn, "matmul": matmul_fn()}, reps)
    peak = 2 * MATMUL_N ** 3 / min(t["matmul"])
    report["throughput"] = {
        "batch_size": B, "rounds": reps,
        "sft_step_sec_min": min(t["sft"]), "sft_step_sec_median": median(t["sft"]),
        "sft_samples_per_sec": B / min(t["sft"]), "sft_samples_per_sec_median": B / median(t["sft"]),
        "dpo_step_sec_min": min(t["dpo"]), "dpo_step_sec_median": median(t["dpo"]),
        "dpo_over_sft_step": round_ratio(t, "dpo", "sft"),
        "sft_step_gflop": sft_flops / 1e9, "fp32_matmul_peak_gflops": peak / 1e9,
        # MFU per round: (step FLOPs / step time) / (matmul FLOPs / matmul time), same round.
        "mfu": median([sft_flops / a / (2 * MATMUL_N ** 3 / b) for a, b in zip(t["sft"], t["matmul"])]),
        "mfu_best": sft_flops / min(t["sft"]) / peak}
    # 4. Samplers of the distilled checkpoint, on the novel instances -----------------------
    heldout = {key: open_dataset(caches[key].out, grid, image_size) for key in ("novel_instances", "novel_categories")}
    distilled, _ = load_checkpoint(runs["distill"])
    dense = getattr(args, "dense_points", 100_000)
    flow_rows = []
    main_set = heldout["novel_instances"]
    report["samplers"], _ = sampler_figures(distilled, main_set, len(main_set), reps, dense_points=dense, flow_rows=flow_rows)
    report["samplers"]["shortcut_agreement_with_flow"] = sampler_agreement(distilled, main_set, len(main_set))
    # 5. Each split's stage table (flow sampler, 25 steps, seeds 0 and 1; f1@0.01_dense on seed 0), image use
    #    and reference rows; the floors and the oracle read the SFT cache, which shows every training shape.
    cats = lambda key, rows: row_categories(rows, shape_names(caches[key].out))
    report["splits"] = {}
    for key, split in heldout.items():
        t = time.time()
        report["splits"][key] = evaluate_split(
            runs, split, sft_data, cats(key, split), cats("sft", sft_data),
            # One seed on the novel categories: 48 rows x 7 samplings (5 stages, 2 image conditions) at ~0.8 s
            # each is ~5 min (an estimate); a second seed would add as much again to a 35 min budget.
            seeds=(0, 1) if key == "novel_instances" else (0,),
            # F1@0.01 the paper's way costs ~1 s a row per stage: on the main split only.
            dense_points=dense if key == "novel_instances" else 0,
            distill_rows=flow_rows if key == "novel_instances" else None,
            consensus_k=getattr(args, "consensus", 4), name_of_split=key)
        report["splits"][key]["evaluation_sec"] = time.time() - t
    report["goals"] = goals(report)
    report["total_sec"] = time.time() - t_start
    report["load_avg_at_end"] = os.getloadavg()
    text = json.dumps(report, indent=2, default=float)
    (work / "bench.json").write_text(text)
    tables = split_tables(report)
    (work / "bench.md").write_text(tables)
    print(text)
    print(tables, file=sys.stderr)
    return report
