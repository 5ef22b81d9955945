"""`python -m trainer {prepare,pretrain,sft,dpo,distill,evaluate,compare,sample,probe,bench}`: flags built from the configs.

Each flag is a config field (`--batch-size` sets `batch_size`) with the field's help text.
`--config` gives the defaults, and flags given on the command line override them. It is either
a preset, tiny|cpu|gpu (prepare and the training stages: the model and the stage defaults that go
with it; tiny when --config is not given), or a JSON file: an object of the command's fields
("config" names the preset), or a checkpoint (manifest.json, its folder, a run folder or
its `last` file), whose saved config gives the fields the command has, all but the stage name
(the command or --stage sets that). So `sft --config runs/sft/last` repeats a run.
The resolved config is saved in every checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .config import CompareConfig, DataConfig, DistillConfig, DPOConfig, EvalConfig, MODEL_PRESETS, SampleRunConfig, TrainConfig

# Stage defaults per preset; anything given on the command line wins.
DATA_PRESETS = {"tiny": dict(grid=16, render_size=64, image_size=32, n=128, primitives=14),
                "cpu": dict(grid=32, render_size=128, image_size=64, n=2048, primitives=140),
                "gpu": dict(grid=64, render_size=448, image_size=224, n=100000, primitives=7000)}
TRAIN_PRESETS = {"tiny": dict(batch_size=8, steps=100, vae_steps=100, lr=1e-3, warmup=10, log_every=10, ckpt_every=50),
                 "cpu": dict(batch_size=32, steps=2000, vae_steps=300, lr=3e-4, warmup=100, log_every=25, ckpt_every=250),
                 "gpu": dict(batch_size=256, steps=200000, vae_steps=20000, lr=1e-4, warmup=2000, log_every=100, ckpt_every=5000)}
STAGES = {"pretrain": (TrainConfig, {"stage": "pretrain"}), "sft": (TrainConfig, {"stage": "sft"}),
          "dpo": (DPOConfig, {}), "distill": (DistillConfig, {})}
COMMANDS = {"prepare": DataConfig, **{k: cls for k, (cls, _) in STAGES.items()}, "evaluate": EvalConfig,
            "compare": CompareConfig, "sample": SampleRunConfig}
NO_PRESETS = ("evaluate", "compare", "sample")   # they take their models from checkpoints
PRESETS = ", ".join(sorted(MODEL_PRESETS))
# Without --config (or a JSON file without "config"), every command uses this preset, so the cache
# `prepare` writes fits the model the training stages build.
DEFAULT_PRESET = "tiny"


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


def add_config(parser: argparse.ArgumentParser, presets: bool) -> None:
    """Add --config: a preset (if the command has presets) or a JSON file of defaults."""
    what = f"a preset ({PRESETS}; {DEFAULT_PRESET} when not given) or " if presets else ""
    parser.add_argument("--config", dest="config_arg", default=None, metavar="CONFIG",
                        help=f"defaults: {what}a JSON file, an object of this command's fields or a checkpoint "
                             "(folder, run folder or manifest.json) whose saved config to reuse; flags given win")


def config_file(arg: str) -> tuple[Path, dict]:
    """Return (path, JSON object) of a --config file, checkpoint folder, run folder or run's `last` file."""
    path = Path(arg)
    if path.name == "last" and path.is_file():       # runs/sft/last names the run's newest checkpoint
        path = path.parent
    if path.is_dir():
        from .checkpoints import resolve
        try:
            path = resolve(path) / "manifest.json"
        except FileNotFoundError as e:
            raise CLIError(f"--config {arg}: {e}") from None
    if not path.is_file():
        raise CLIError(f"unknown --config {arg!r}: not a preset ({PRESETS}), a JSON file or a checkpoint")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise CLIError(f"--config {path} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CLIError(f"--config {path} holds a JSON {type(data).__name__}, not an object of fields")
    return path, data


def read_config(arg: str, cls, extra=()) -> dict:
    """Return the `cls` field values (and `extra` keys) a --config file gives.

    A checkpoint's manifest gives its saved config's fields that `cls` has, all but the stage name;
    a plain JSON object must hold only `cls` fields, with values of their defaults' types.
    """
    path, data = config_file(arg)
    fields = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
              for f in dataclasses.fields(cls)}
    if isinstance(data.get("config"), dict):          # a checkpoint manifest: its resolved config
        if not issubclass(cls, TrainConfig):
            raise CLIError(f"--config {path} is a checkpoint: its saved config is a training run's; give "
                           f"{cls.__name__} a JSON object of its own fields")
        return {k: v for k, v in data["config"].items() if (k in fields or k in extra) and k != "stage"}
    unknown = sorted(set(data) - set(fields) - set(extra))
    if unknown:
        raise CLIError(f"--config {path}: {cls.__name__} has no field {', '.join(map(repr, unknown))}; "
                       "see --help for the fields")
    wrong = [f"{k} must be {type(fields[k]).__name__}, not {v!r}" for k, v in data.items() if k in fields
             and not isinstance(v, type(fields[k])) and not (isinstance(fields[k], float) and type(v) is int)]
    if wrong:
        raise CLIError(f"--config {path}: {'; '.join(wrong)}")
    return data


def defaults(command: str, arg: str | None) -> tuple[str, dict]:
    """Return (preset name, field values) of a command's --config; a JSON file's "config" may name the preset."""
    if arg is None:
        return DEFAULT_PRESET, {}
    if arg in MODEL_PRESETS:
        if command in NO_PRESETS:
            raise CLIError(f"{command} takes its model from --ckpt, so --config must be a JSON file of "
                           f"{COMMANDS[command].__name__} fields, not the preset {arg!r}")
        return arg, ({"config": arg} if command in STAGES else {})
    values = read_config(arg, COMMANDS[command], extra=("config",) if command == "prepare" else ())
    preset = values.pop("config", DEFAULT_PRESET) if command == "prepare" else values.get("config", DEFAULT_PRESET)
    if preset not in MODEL_PRESETS:
        raise CLIError(f"--config {arg}: unknown preset {preset!r}; choose one of {PRESETS}")
    return preset, values


def build(cls, args: argparse.Namespace, values: dict):
    """cls(**values, **flags given) -- flags win."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    try:
        return cls(**{**values, **given})
    except (TypeError, AssertionError, ValueError) as e:
        raise CLIError(f"invalid {cls.__name__}: {e}") from e


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, cls in COMMANDS.items():
        s = sub.add_parser(name, help=(cls.__doc__ or "").splitlines()[0])
        add_config(s, presets=name not in NO_PRESETS)
        add_fields(s, cls, skip=("config",))      # TrainConfig.config (the preset) is set through --config
    from .probe import add_arguments as probe_arguments
    probe_arguments(sub.add_parser("probe", help="a linear probe of the category from the image features (JSON)"))
    s = sub.add_parser("bench", help="benchmark the cpu config; prints JSON")
    s.add_argument("--work", default="var/bench", help="scratch folder for data and runs (default: var/bench)")
    s.add_argument("--scale", type=float, default=1.0, help="multiply every step/sample count (0.1 = smoke run)")
    s.add_argument("--train-scale", type=float, default=1.0,
                   help="multiply the pretraining, mid-training and SFT steps only (data and other stages unchanged)")
    s.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    s.add_argument("--shapes", default="",
                   help="the procedural shape folder (default: WORK/shapes); make it with "
                        "`python -m model_suite.procedural --out FOLDER --count 1280 --seed 0`")
    s.add_argument("--config", default="cpu", choices=("cpu", "tiny"),
                   help="model preset and data sizes: cpu (the bench) or tiny (a test-sized run, figures meaningless)")
    s.add_argument("--poses", default="upright", choices=("upright", "hard"),
                   help="object poses of every data set: upright (as photographed) or hard (random 3D rotations)")
    s.add_argument("--encoder", default="", choices=("", "cnn", "attn", "effnet"),
                   help="image encoder of the pretrained model ('' = the cpu preset's)")
    s.add_argument("--cond-layers", type=int, default=-1,
                   help="self-attention layers over the condition tokens of the pretrained model "
                        "(-1 = the preset's, 0)")
    s.add_argument("--category-loss", type=float, default=0.0,
                   help="weight of the auxiliary category loss in pretraining, mid-training and SFT (0 = off; 0.5 "
                        "with --cond-layers 2: +0.09 vIoU on the novel instances at mid-training, paired, on two "
                        "seeds; its cost on the novel categories is not settled: trainer/README.md)")
    s.add_argument("--category-condition", action="store_true",
                   help="give the model each row's category (the Stage 1 label) as a condition token, from "
                        "pretraining on (unknown for the novel categories; trainer/README.md)")
    s.add_argument("--category-text", action="store_true",
                   help="--category-condition with the token a projection of the name's sentence embedding, so the "
                        "novel categories are given their names too (trainer.category_text)")
    s.add_argument("--dense-points", type=int, default=100_000,
                   help="points per surface of the stage table's F1@0.01 the paper's way (0 = off; ~1 s per row)")
    s.add_argument("--consensus", type=int, default=4,
                   help="samples per row of the point-estimate row `consensus of K (best stage)` (0 = off; default 4)")
    s.add_argument("--only-point-estimates", action="store_true",
                   help="only score the point-estimate and random-instance rows of the finished bench in --work "
                        "(its checkpoints, caches and bench.json; no training): writes WORK/point_estimates.json")
    s.add_argument("--point-estimate-stage", default="", choices=("",) + ("pretrain", "midtrain", "sft", "dpo", "distill"),
                   help="with --only-point-estimates and no WORK/bench.json: the stage to take K samples of "
                        "('' = distill); with bench.json, its best stage by single-sample vIoU")
    s.add_argument("--seed", type=int, default=0,
                   help="training seed (weights, batches, noise, self-pairs); data and held-out set stay fixed, "
                        "so seeds give replicates of one recipe (default: 0)")
    return p


def config_for(args: argparse.Namespace):
    """Return the config of a parsed command: preset < stage defaults < --config file < flags given."""
    preset_name, values = defaults(args.command, args.config_arg)
    if args.command == "prepare":
        return build(DataConfig, args, {**DATA_PRESETS[preset_name], **values})
    if args.command in STAGES:
        cls, fixed = STAGES[args.command]
        preset = dict(TRAIN_PRESETS[preset_name])
        if args.command != "pretrain":   # post-training stages keep their own lr / steps defaults
            preset = {k: v for k, v in preset.items() if k not in ("lr", "steps", "warmup", "vae_steps")}
        return build(cls, args, {**preset, **fixed, **values})
    return build(COMMANDS[args.command], args, values)


def run(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.command == "probe":
        from .probe import main as probe_main
        probe_main(args=args)
        return 0
    if args.command == "bench":
        from .bench import main as bench_main
        bench_main(args)
        return 0
    cfg = config_for(args)
    if args.command == "prepare":
        from .data.cache import prepare
        from .pairs import prepare_pairs
        index = prepare_pairs(cfg) if cfg.kind == "pairs" else prepare(cfg)
        print(f"wrote {index['n']} {cfg.kind} samples in {len(index['shards'])} shards to {cfg.out}")
    elif args.command in STAGES:
        train = {"pretrain": "sft", "sft": "sft", "dpo": "dpo", "distill": "distill"}[args.command]
        module = __import__(f"trainer.{train}", fromlist=["train"])
        module.train(cfg)
        print(f"done: {cfg.out}/last")
    elif args.command == "evaluate":
        from .evaluate import evaluate
        report = evaluate(cfg)
        print(f"wrote {cfg.out}: " + ", ".join(f"{k}={v:.4g}" for k, v in report["ckpt"]["metrics"].items()))
        for key in ("consensus", "category_use", "floors"):
            if key in report:
                print(json.dumps({key: report[key]}))
    elif args.command == "compare":
        from .compare import compare
        print(json.dumps(compare(cfg)))
    elif args.command == "sample":
        from .sample_cli import sample_to_folder
        for path in sample_to_folder(cfg):
            print(path)
    return 0


def main(argv=None) -> int:
    """Run the CLI; user errors print one line and exit with status 2."""
    from model_suite.embeddings import SentenceModelMissing
    try:
        return run(argv)
    except (CLIError, FileNotFoundError, ValueError, SentenceModelMissing) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130
