"""Trainer runs as jobs: the trainer CLI in a child process, its checkpoint registered after."""

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from engine.core.models import Iteration
from engine.flywheel.models import ModelCheckpoint
from trainer.lifeline import die_with_parent

log = logging.getLogger("engine.flywheel")


class TrainerRunFailed(RuntimeError):
    """The trainer exited with an error; the message carries the end of its output."""


def run_trainer(name, command, args, iteration_id=None, progress=None, poll=1.0):
    """Run `python -m trainer COMMAND --out RUNS/NAME ARGS...`; register and return the checkpoint id.

    `progress(row)` is called with each new row of the run's log.jsonl (step, loss, rewards/...)
    while it trains. Run again with the same name, the trainer resumes from the folder's last checkpoint.
    """
    out = Path(settings.RUNS_ROOT) / name
    argv = [*launcher(), "trainer", command, "--out", str(out), *map(str, args)]
    log.info("trainer run %s: %s", name, " ".join(argv))
    returncode, stderr = _watch(argv, out / "log.jsonl", progress, poll)
    if returncode != 0:
        raise TrainerRunFailed(f"{' '.join(argv[argv.index('trainer'):])} exited {returncode}: {stderr[-2000:]}")
    return register(name, out, iteration_id).pk


def launcher():
    """Return the argv that starts `-m trainer`: python, or torchrun with ENGINE_TRAINER_PROCS processes.

    On a host with several GPUs, ENGINE_TRAINER_PROCS=N trains with N DistributedDataParallel ranks
    (trainer/distributed.py: nccl on GPUs, gloo on the CPU), one GPU each; rank 0 writes the checkpoints.
    """
    procs = settings.ENGINE.get("TRAINER_PROCS", 1)
    if procs <= 1:
        return [sys.executable, "-m"]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}", "-m"]


def run_trainer_command(command, args):
    """Run `python -m trainer COMMAND ARGS...` (prepare, compare, …) that makes no checkpoint; return its stdout."""
    argv = [sys.executable, "-m", "trainer", command, *map(str, args)]
    log.info("trainer %s: %s", command, " ".join(argv))
    done = subprocess.run(argv, cwd=settings.BASE_DIR, capture_output=True, text=True, preexec_fn=die_with_parent)
    if done.returncode != 0:
        raise TrainerRunFailed(f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def _watch(argv, log_path, progress, poll):
    """Run argv to the end, passing new log rows to progress; return (exit status, stderr)."""
    with tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(argv, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=err, text=True,
                                 preexec_fn=die_with_parent)
        seen = _rows(log_path) if progress else 0  # a resumed run's earlier rows are not news
        while True:
            try:
                child.wait(timeout=poll)
                finished = True
            except subprocess.TimeoutExpired:
                finished = False
            if progress:
                seen = _report(log_path, seen, progress)
            if finished:
                break
        err.seek(0)
        return child.returncode, err.read()


def _rows(path):
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def _report(path, seen, progress):
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return seen
    for line in lines[seen:]:
        try:
            progress(json.loads(line))
        except ValueError:  # a row being written: read it next time
            return seen
        seen += 1
    return seen


def register(name, path, iteration_id=None, project=None):
    """Register (or refresh) a checkpoint from its directory, or a run folder's newest one.

    It belongs to `project`, else to its iteration's project; with neither it is shared (deploy.py).
    """
    from trainer.checkpoints import read_manifest, resolve

    path = resolve(path).resolve()
    manifest = read_manifest(path)
    parent_hash = manifest.get("parent_hash")
    if project is None and iteration_id is not None:
        project = Iteration.objects.select_related("project").get(pk=iteration_id).project
    parents = ModelCheckpoint.objects.filter(sha256=parent_hash) if parent_hash else ModelCheckpoint.objects.none()
    # The same parent folder may be registered by two projects: the child's parent is its own project's row.
    parent_ckpt = min(parents, default=None, key=lambda c: (c.project_id != getattr(project, "pk", None), c.pk))
    defaults = {"path": str(path), "stage": manifest.get("stage", ""), "sha256": manifest.get("hash", ""),
                "config": manifest.get("config", {}), "metrics": manifest.get("metrics", {}),
                "parent": parent_ckpt, "iteration_id": iteration_id}
    if project is not None:
        defaults["project"] = project
    checkpoint, _ = ModelCheckpoint.objects.update_or_create(name=name, defaults=defaults)
    return checkpoint
