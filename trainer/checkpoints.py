"""Checkpoints: a directory with model.safetensors, ema.safetensors, manifest.json, optimizer.pt.

manifest.json carries the stage, step, parent checkpoint and its hash, the resolved stage
config, the model config, data snapshot ids, sampler settings, metrics, the sha256 of each
weight file ("files") and this checkpoint's hash, which covers both weight files:

    hash = sha256 of "<sha256 of model.safetensors>  model.safetensors\n<sha256 of ema.safetensors>  ema.safetensors\n"

(i.e. `sha256sum model.safetensors ema.safetensors | sha256sum` in the folder). Sampling, children
and evaluation use the EMA weights and resuming uses both, so the hash must name both.
optimizer.pt is only for resuming a run.
A run folder holds step-XXXXXXX/ checkpoints and a `last` file naming the newest complete one.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import SampleConfig, model_config
from .model import FlowModel

FORMAT = 1
WEIGHTS = ("model.safetensors", "ema.safetensors")   # the order `hash` covers them in


def file_hash(path: str | Path) -> str:
    """Return the sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_hash(files: dict) -> str:
    """Return the checkpoint hash of {file name: sha256} (see the module docstring)."""
    return hashlib.sha256("".join(f"{files[n]}  {n}\n" for n in WEIGHTS).encode()).hexdigest()


def load_weights(path: str | Path, name: str, manifest: dict) -> dict:
    """Return the tensors of one weight file, checked against the manifest's sha256 when it has one."""
    want = manifest.get("files", {}).get(name)
    if want is not None and file_hash(Path(path) / name) != want:
        raise ValueError(f"checkpoint {path}: {name} does not match the sha256 in its manifest.json "
                         "(corrupted or edited after saving); restore it or use another checkpoint")
    return load_file(str(Path(path) / name))


def _tensors(state: dict) -> dict:
    return {k: v.detach().contiguous().cpu().clone() for k, v in state.items()}


def save_checkpoint(path: str | Path, model: FlowModel, ema_state: dict | None, manifest: dict,
                    resume_state: dict | None = None) -> Path:
    """Write a checkpoint atomically (temporary folder, then rename) and return its path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_tensors(model.state_dict()), str(tmp / "model.safetensors"))
    save_file(_tensors(ema_state if ema_state is not None else model.state_dict()), str(tmp / "ema.safetensors"))
    files = {n: file_hash(tmp / n) for n in WEIGHTS}
    manifest = {"format": FORMAT, "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                "model_config": model.cfg.__dict__.copy(), **manifest, "files": files, "hash": weights_hash(files)}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    if resume_state is not None:
        torch.save(resume_state, tmp / "optimizer.pt")
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return path


def read_manifest(path: str | Path) -> dict:
    """Return the manifest of a checkpoint directory, with a clear error if it is not one."""
    p = Path(path) / "manifest.json"
    if not p.exists():
        raise FileNotFoundError(f"{path} is not a checkpoint: {p} is missing. Pass a step-XXXXXXX folder "
                                "or a run folder that has a 'last' file.")
    return json.loads(p.read_text())


def resolve(path: str | Path) -> Path:
    """A checkpoint path, or a run folder whose `last` names one -> the checkpoint directory."""
    path = Path(path)
    if (path / "manifest.json").exists():
        return path
    last = latest(path)
    if last is None:
        raise FileNotFoundError(f"no checkpoint at {path} (no manifest.json and no 'last' file)")
    return last


def load_checkpoint(path: str | Path, weights: str = "ema", device: str | torch.device = "cpu"):
    """Return (model, manifest) of a checkpoint; weights = 'ema' (default, for sampling) or 'model'.

    The weight file is checked against the manifest's sha256 ("files"; manifests older than it load unchecked).
    """
    path = resolve(path)
    manifest = read_manifest(path)
    if weights not in ("ema", "model"):
        raise ValueError(f"weights must be 'ema' or 'model', got {weights!r}")
    model = FlowModel(model_config(manifest["model_config"]), embed_names=False)   # the weights hold them
    model.load_state_dict(load_weights(path, f"{weights}.safetensors", manifest))
    model.sample_config = SampleConfig(**manifest.get("sampler", {}))
    model.checkpoint_hash = manifest["hash"]
    return model.to(device).eval(), manifest


def latest(run_dir: str | Path) -> Path | None:
    """Return the newest complete checkpoint of a run folder, or None."""
    f = Path(run_dir) / "last"
    if not f.exists():
        return None
    p = Path(run_dir) / f.read_text().strip()
    return p if (p / "manifest.json").exists() else None


def mark_last(run_dir: str | Path, ckpt: Path, keep: int) -> None:
    """Point `last` at ckpt (atomic) and delete all but the newest `keep` step checkpoints."""
    run_dir = Path(run_dir)
    tmp = run_dir / "last.tmp"
    tmp.write_text(ckpt.name)
    os.replace(tmp, run_dir / "last")
    steps = sorted(p for p in run_dir.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in steps[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
