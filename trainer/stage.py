"""What every training stage does first: device, process group, threads, model and data."""
from __future__ import annotations

from dataclasses import asdict

import torch

from . import distributed as D
from .checkpoints import load_checkpoint, resolve
from .config import SampleConfig, model_config
from .data.loader import attach_categories, open_dataset
from .model import FlowModel


def setup(cfg):
    """Return (device, rank, world) after seeding and joining the process group."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = D.pick_device(cfg.device)
    rank, world = D.init(device)
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {world} ranks")
    torch.manual_seed(cfg.seed)   # identical initial weights on every rank
    return device, rank, world


def build_model(cfg, device, categories: list[str] | None = None) -> tuple[FlowModel, dict]:
    """The model to train: the --init checkpoint's EMA weights, or a fresh `cfg.config` preset (with the
    category head's vocabulary `categories`, when given)."""
    if cfg.init:
        model, parent = load_checkpoint(cfg.init, weights="ema", device=device)
        parent_info = {"parent": str(resolve(cfg.init)), "parent_hash": parent["hash"],
                       "parent_stage": parent.get("stage")}
    else:
        overrides = {"encoder": cfg.encoder} if getattr(cfg, "encoder", "") else {}
        if getattr(cfg, "cond_layers", -1) >= 0:
            overrides["cond_layers"] = cfg.cond_layers
        if categories:
            overrides["categories"] = list(categories)
        if getattr(cfg, "category_condition", False):
            overrides["category_condition"] = True
        if getattr(cfg, "category_text", False):
            overrides["category_text"] = True
        model, parent_info = FlowModel(model_config(cfg.config, **overrides)).to(device), {"parent": None, "parent_hash": None}
    model.train()
    return model, parent_info


def load_data(paths, model, kind: str = "samples", progress: bool = True):
    """Open the training sources for this model's grid and view size; a model given the category
    (ModelConfig.category_condition) gets each row's category array, which every stage conditions it on."""
    data = open_dataset(paths, model.cfg.grid, model.cfg.image_size, kind, progress)
    if model.cfg.category_condition:
        attach_categories(data, model)
    return data


def base_manifest(parent_info: dict, datasets: list, world: int, model) -> dict:
    """Manifest fields shared by every stage."""
    return {**parent_info, "data": [d.snapshot for d in datasets if d is not None], "world_size": world,
            "sampler": asdict(getattr(model, "sample_config", None) or SampleConfig()),
            "parameters": sum(p.numel() for p in model.parameters())}

