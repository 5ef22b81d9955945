"""DistributedDataParallel helpers: `torchrun` sets RANK / WORLD_SIZE / LOCAL_RANK; gloo on CPU, nccl on GPU."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .lifeline import die_with_launcher


def init(device: torch.device) -> tuple[int, int]:
    """Join the process group when launched by torchrun; return (rank, world_size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    die_with_launcher()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def is_main() -> bool:
    """True on rank 0 (or without a process group)."""
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def mean(x: float) -> float:
    """Average a float across ranks (for logging)."""
    if not dist.is_initialized():
        return x
    t = torch.tensor([x], dtype=torch.float64)
    dist.all_reduce(t)
    return t.item() / dist.get_world_size()


def pick_device(name: str) -> torch.device:
    """'auto' -> cuda:LOCAL_RANK when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU here; use --device cpu or auto")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if name != "cpu":
        raise ValueError(f"unknown device {name!r}: use cpu, cuda or auto")
    return torch.device("cpu")
