"""Trainer runs as jobs: the trainer CLI in a child process, its checkpoint registered after."""

import logging
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from engine.flywheel.models import ModelCheckpoint

log = logging.getLogger("engine.flywheel")


class TrainerRunFailed(RuntimeError):
    """The trainer exited with an error; the message carries the end of its output."""


def run_trainer(name, command, args, iteration_id=None):
    """Run `python -m trainer COMMAND --out RUNS/NAME ARGS...`; register and return the checkpoint id."""
    out = Path(settings.RUNS_ROOT) / name
    argv = [sys.executable, "-m", "trainer", command, "--out", str(out), *map(str, args)]
    log.info("trainer run %s: %s", name, " ".join(argv))
    done = subprocess.run(argv, cwd=settings.BASE_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise TrainerRunFailed(f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr[-2000:]}")
    return register(name, out, iteration_id).pk


def register(name, path, iteration_id=None):
    """Register (or refresh) a checkpoint from its directory, or a run folder's newest one."""
    from trainer.checkpoints import read_manifest, resolve

    path = resolve(path).resolve()
    manifest = read_manifest(path)
    parent_hash = manifest.get("parent_hash")
    parent_ckpt = ModelCheckpoint.objects.filter(sha256=parent_hash).first() if parent_hash else None
    checkpoint, _ = ModelCheckpoint.objects.update_or_create(
        name=name,
        defaults={"path": str(path), "stage": manifest.get("stage", ""), "sha256": manifest.get("hash", ""),
                  "config": manifest.get("config", {}), "metrics": manifest.get("metrics", {}),
                  "parent": parent_ckpt, "iteration_id": iteration_id},
    )
    return checkpoint
