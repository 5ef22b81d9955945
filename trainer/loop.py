"""The training loop shared by every stage: data order, LR schedule, EMA, DDP, logging, checkpoints.

Determinism: the rows of step k come from a permutation seeded by (seed, epoch), and the noise
of step k from a generator seeded by (seed, k, rank). Neither depends on history, so a run
resumed from a checkpoint continues bit-for-bit (on the CPU).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from . import distributed as D
from .checkpoints import latest, load_weights, mark_last, read_manifest, save_checkpoint
from .config import SampleConfig


def batch_indices(n: int, batch: int, seed: int, step: int, rank: int = 0, world: int = 1) -> list[int]:
    """Rows of this rank at this step: epoch permutations of range(n), global batch split by rank."""
    per_epoch = max(1, n // batch)
    epoch, k = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.cat([torch.randperm(n, generator=g) for _ in range(math.ceil(batch / n))])
    rows = perm[(k * batch) % len(perm):][:batch] if n >= batch else perm[:batch]
    return rows[rank::world].tolist()


def mixed_batch_indices(dataset, batch: int, seed: int, step: int, share: float, rank: int = 0,
                        world: int = 1) -> list[int]:
    """Rows of this rank at this step for a dataset whose last `dataset.replay_rows` rows are replayed data:
    round(share x batch) of the global batch from them, the rest from the new rows before them, each side in its
    own epoch permutations (so the new rows are seen as often as without replay, whatever the replay's size)."""
    replay = int(getattr(dataset, "replay_rows", 0) or 0)
    if not replay:
        return batch_indices(len(dataset), batch, seed, step, rank, world)
    fresh = len(dataset) - replay
    b_replay = min(batch - 1, max(1, round(share * batch)))
    rows = batch_indices(fresh, batch - b_replay, seed, step)
    rows += [fresh + r for r in batch_indices(replay, b_replay, seed + 7919, step)]
    return rows[rank::world]


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The generator of all noise at one step on one rank."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 1009 + rank)


def lr_at(step: int, cfg) -> float:
    """Linear warmup to cfg.lr, then cosine decay to 0.1 cfg.lr at cfg.steps."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, p))))


class EMA:
    """Exponential moving average of a model's state; decay warms up as min(d, (1+n)/(10+n))."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.state[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.state[k].copy_(v)


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    """AdamW; no weight decay on vectors (norms, biases, embeddings of shape (1, ...))."""
    params = [p for p in params if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2 and p.shape[0] > 1]
    rest = [p for p in params if not (p.dim() >= 2 and p.shape[0] > 1)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.99))


def autocast(device: torch.device, dtype: str):
    """bf16 autocast on CUDA ('auto' or 'bf16'); a no-op context on the CPU and for fp32."""
    use = dtype == "bf16" or (dtype == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use)


# Config fields a resumed run may change: where and how it runs and reports, and how long it trains.
RESUME_MAY_CHANGE = frozenset({"out", "steps", "log_every", "ckpt_every", "keep_last", "resume", "device", "dtype",
                               "threads", "progress", "eval_data"})
PATH_FIELDS = ("data", "init", "ref")


def recipe_changes(saved: dict, cfg) -> list[str]:
    """The fields of cfg that differ from `saved`, the config of the run being resumed, as "field: old -> new",
    other than RESUME_MAY_CHANGE; paths compare resolved, so `var/x` and `./var/x` are one folder."""
    def norm(k, v):
        if k in PATH_FIELDS and v:
            return [str(Path(x).resolve()) for x in v] if isinstance(v, list) else str(Path(v).resolve())
        return list(v) if isinstance(v, tuple) else v
    now = asdict(cfg)
    return [f"{k}: {saved[k]!r} -> {now[k]!r}" for k in sorted(now)
            if k in saved and k not in RESUME_MAY_CHANGE and norm(k, saved[k]) != norm(k, now[k])]


def fit(cfg, model, objective: torch.nn.Module, dataset, step_fn: Callable, manifest: dict,
        device: torch.device, rank: int = 0, world: int = 1, eval_fn: Callable | None = None):
    """Train `objective` (a module around `model`) with `step_fn(objective, batch, gen) -> (loss, logs)`.

    Checkpoints go to cfg.out/step-XXXXXXX with `manifest` (+ step, config, metrics); the
    optimizer state and the last logs are saved for resume. Returns the EMA state.
    """
    out = Path(cfg.out)
    trainable = [p for p in objective.parameters() if p.requires_grad]
    opt = make_optimizer(trainable, cfg)
    ema = EMA(model, cfg.ema_decay)
    start, metrics = 0, {}
    last = latest(out) if cfg.resume else None
    if last is not None and (last / "optimizer.pt").exists():
        state = torch.load(last / "optimizer.pt", map_location="cpu", weights_only=False)
        if state.get("stage") != cfg.stage:
            raise ValueError(f"{out} holds a {state.get('stage')!r} run, not {cfg.stage!r}: "
                             "use another --out, or --no-resume to train over it")
        saved = read_manifest(last)
        changed = recipe_changes(saved.get("config", {}), cfg)
        if changed:
            raise ValueError(f"{out} holds a {cfg.stage!r} run with another recipe ({'; '.join(changed)}): resuming "
                             "would mix the two; use another --out, or --no-resume to train over it")
        model.load_state_dict(load_weights(last, "model.safetensors", saved))
        ema.state = {k: v.to(device) for k, v in load_weights(last, "ema.safetensors", saved).items()}
        opt.load_state_dict(state["optimizer"])
        start, metrics = state["step"], state.get("metrics", {})
        if D.is_main():
            print(f"resuming {cfg.stage} from {last} at step {start}")
            trim_log(out / "log.jsonl", start)
    wrapped = DDP(objective) if world > 1 else objective
    log_path = out / "log.jsonl"
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=cfg.stage,
               disable=not (cfg.progress and D.is_main()))
    t0 = time.perf_counter()
    # Fault drills only: seconds to wait after each step, so a kill lands mid-epoch on a fast machine too.
    step_sleep = float(os.environ.get("TRAINER_DRILL_STEP_SLEEP", "0") or 0)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        rows = mixed_batch_indices(dataset, cfg.batch_size, cfg.seed, step, getattr(cfg, "replay_share", 0.0),
                                   rank, world)
        batch = {k: v.to(device) for k, v in dataset.batch(rows).items()}
        with autocast(device, cfg.dtype):
            loss, logs = step_fn(wrapped, batch, step_generator(cfg.seed, step, rank))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            logs["grad_norm"] = torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip).item()
        opt.step()
        ema.update(model, step)
        if step_sleep:
            time.sleep(step_sleep)
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            logs = {k: D.mean(v) for k, v in logs.items()}
            logs.update(step=done, lr=lr_at(step, cfg), sec=round(time.perf_counter() - t0, 3))
            if eval_fn is not None and (done == cfg.steps or done % cfg.ckpt_every == 0):
                logs.update(eval_fn(model))
            metrics = logs
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "rewards/accuracies", "eval_loss")})
            if D.is_main():
                out.mkdir(parents=True, exist_ok=True)
                with open(log_path, "a") as f:
                    f.write(json.dumps(logs) + "\n")
        if done % cfg.ckpt_every == 0 or done == cfg.steps:
            if D.is_main():
                save(cfg, model, ema, opt, manifest, done, metrics)
            D.barrier()
    return ema


def trim_log(path: Path, step: int) -> None:
    """Drop log rows past `step` (written after the checkpoint a run resumes from), so the
    resumed run does not log those steps twice."""
    if path.exists():
        rows = [line for line in path.read_text().splitlines() if line.strip()]
        path.write_text("".join(line + "\n" for line in rows if json.loads(line).get("step", 0) <= step))


def save(cfg, model, ema, opt, manifest: dict, step: int, metrics: dict) -> Path:
    """Write step-XXXXXXX with the resolved config, and point `last` at it."""
    out = Path(cfg.out)
    full = {"step": step, "stage": cfg.stage, "config": asdict(cfg), "metrics": metrics,
            "sampler": manifest.get("sampler", asdict(SampleConfig())), **manifest}
    path = save_checkpoint(out / f"step-{step:07d}", model, ema.state, full,
                           {"optimizer": opt.state_dict(), "step": step, "stage": cfg.stage, "metrics": metrics})
    mark_last(out, path, cfg.keep_last)
    return path
