"""`python -m trainer {prepare,pretrain,sft,dpo,distill,evaluate,sample,bench}`: flags built from the configs.

Each flag is a config field (`--batch-size` sets `batch_size`) with the field's help text.
`--config tiny|cpu|gpu` picks a model preset and the stage defaults that go with it; flags
given on the command line override them. The resolved config is saved in every checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from .config import DataConfig, DistillConfig, DPOConfig, EvalConfig, MODEL_PRESETS, TrainConfig

# Stage defaults per preset; anything given on the command line wins.
DATA_PRESETS = {"tiny": dict(grid=16, render_size=64, image_size=32, n=128, primitives=14),
                "cpu": dict(grid=32, render_size=128, image_size=64, n=2048, primitives=140),
                "gpu": dict(grid=64, render_size=448, image_size=224, n=100000, primitives=7000)}
TRAIN_PRESETS = {"tiny": dict(batch_size=8, steps=100, vae_steps=100, lr=1e-3, warmup=10, log_every=10, ckpt_every=50),
                 "cpu": dict(batch_size=32, steps=2000, vae_steps=300, lr=3e-4, warmup=100, log_every=25, ckpt_every=250),
                 "gpu": dict(batch_size=256, steps=200000, vae_steps=20000, lr=1e-4, warmup=2000, log_every=100, ckpt_every=5000)}
STAGES = {"pretrain": (TrainConfig, {"stage": "pretrain"}), "sft": (TrainConfig, {"stage": "sft"}),
          "dpo": (DPOConfig, {}), "distill": (DistillConfig, {})}


class CLIError(Exception):
    """A user error: printed as one line, no traceback."""


def add_fields(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    """Add one flag per dataclass field, typed from its default, with the field's help."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%")
        kw = dict(dest=f.name, default=argparse.SUPPRESS, help=text)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif isinstance(default, list):
            elem = type(default[0]) if default else str
            parser.add_argument(flag, nargs="*", type=elem, **kw)
        else:
            parser.add_argument(flag, type=type(default), **kw)


def build(cls, args: argparse.Namespace, preset: dict, fixed: dict | None = None):
    """cls(**preset, **fixed, **flags given) -- flags win."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    try:
        return cls(**{**preset, **(fixed or {}), **given})
    except (TypeError, AssertionError, ValueError) as e:
        raise CLIError(f"invalid {cls.__name__}: {e}") from e


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("prepare", help="render shapes / composites into a data cache")
    s.add_argument("--config", default="cpu", choices=sorted(MODEL_PRESETS), help="size preset (default: cpu)")
    add_fields(s, DataConfig)
    for name, (cls, _) in STAGES.items():
        s = sub.add_parser(name, help=(cls.__doc__ or "").splitlines()[0])
        add_fields(s, cls)
    s = sub.add_parser("evaluate", help=EvalConfig.__doc__)
    add_fields(s, EvalConfig)
    s = sub.add_parser("sample", help="sample shapes and poses for one image + mask")
    s.add_argument("--ckpt", required=True, help="checkpoint folder (or run folder with a 'last' file)")
    s.add_argument("--image", required=True, help="RGB image file")
    s.add_argument("--mask", required=True, help="mask image file (non-zero = object)")
    s.add_argument("--n", type=int, default=4, help="number of samples (default: 4)")
    s.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    s.add_argument("--mode", default="flow", choices=["flow", "shortcut"], help="sampler (default: flow)")
    s.add_argument("--steps", type=int, default=None, help="sampling steps (default: from the checkpoint)")
    s.add_argument("--out", default="var/samples", help="output folder (default: var/samples)")
    s = sub.add_parser("bench", help="benchmark the cpu config; prints JSON")
    s.add_argument("--work", default="var/bench", help="scratch folder for data and runs (default: var/bench)")
    s.add_argument("--scale", type=float, default=1.0, help="multiply every step/sample count (0.1 = smoke run)")
    s.add_argument("--train-scale", type=float, default=1.0,
                   help="multiply the pretraining, mid-training and SFT steps only (data and other stages unchanged)")
    s.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    return p


def run(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.command == "prepare":
        from .data.cache import prepare
        from .pairs import prepare_pairs
        cfg = build(DataConfig, args, DATA_PRESETS[args.config])
        index = prepare_pairs(cfg) if cfg.kind == "pairs" else prepare(cfg)
        print(f"wrote {index['n']} {cfg.kind} samples in {len(index['shards'])} shards to {cfg.out}")
    elif args.command in STAGES:
        cls, fixed = STAGES[args.command]
        preset_name = getattr(args, "config", "tiny")
        if preset_name not in MODEL_PRESETS:
            raise CLIError(f"unknown --config {preset_name!r}; choose one of {sorted(MODEL_PRESETS)}")
        preset = dict(TRAIN_PRESETS[preset_name])
        if args.command != "pretrain":   # post-training stages keep their own lr / steps defaults
            preset = {k: v for k, v in preset.items() if k not in ("lr", "steps", "warmup", "vae_steps")}
        cfg = build(cls, args, preset, fixed)
        train = {"pretrain": "sft", "sft": "sft", "dpo": "dpo", "distill": "distill"}[args.command]
        module = __import__(f"trainer.{train}", fromlist=["train"])
        module.train(cfg)
        print(f"done: {cfg.out}/last")
    elif args.command == "evaluate":
        from .evaluate import evaluate
        cfg = build(EvalConfig, args, {})
        report = evaluate(cfg)
        print(f"wrote {cfg.out}: " + ", ".join(f"{k}={v:.4g}" for k, v in report["ckpt"]["metrics"].items()))
    elif args.command == "sample":
        from .sample_cli import sample_to_folder
        for path in sample_to_folder(args.ckpt, args.image, args.mask, args.n, args.seed, args.mode, args.steps, args.out):
            print(path)
    elif args.command == "bench":
        from .bench import main as bench_main
        bench_main(args)
    return 0


def main(argv=None) -> int:
    """Run the CLI; user errors print one line and exit with status 2."""
    try:
        return run(argv)
    except (CLIError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130
