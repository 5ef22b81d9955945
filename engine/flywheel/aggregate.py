"""Aggregate and filter (Algorithm 1, steps 3-4): the collections of iterations 1..k as one training set.

    OUT/train/    an export folder (export.py's layout): D+ of iterations 1..k with r ≥ α_k, and the
                  preference pairs of those kept winners, from objects outside the held-out share
    OUT/heldout/  the same for the held-out objects: the fixed pairs preference accuracy is measured on

An object is held out when a stable hash of its id falls below `heldout_share`, so it stays held
out in every later iteration and its pairs never reach training. Rows are export.py's own
(`sample_rows`, `pair_rows`); a pair keeps its `dpo_eligible` mark (false when the rejected side
is not from our model family), which the trainer's reader honours.
"""

import copy
import hashlib
import json
import shutil

from django.utils import timezone

from engine.flywheel.export import FORMAT, ExportError, Files, pair_rows, sample_rows, staged, write_rows

PARTS = ("train", "heldout")


def held_out(object_id, share):
    """Return True when the object belongs to the fixed held-out share (sha256 of its id)."""
    digest = hashlib.sha256(f"object:{object_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") / 2**32 < share


def at_bar(iteration, alpha):
    """Return the iteration with α_k as its bar: export.py's `sample_rows` keeps r ≥ iteration.alpha."""
    proxy = copy.copy(iteration)
    proxy.alpha = alpha
    return proxy


def rows_up_to(iteration, alpha, files):
    """Yield ("samples" | "pairs", row) of iterations 1..k of the project, keeping winners with r ≥ alpha."""
    for it in iteration.project.iterations.filter(number__lte=iteration.number).order_by("number"):
        for row in sample_rows(at_bar(it, alpha), files):
            yield "samples", row
        for row in pair_rows(it, files):
            if row["chosen"]["rating"] >= alpha:
                yield "pairs", row


def export_aggregate(iteration, out_dir, alpha=None, heldout_share=0.2, progress=None):
    """Write OUT/train and OUT/heldout for iteration k at bar α_k (default: the iteration's); return the manifest."""
    alpha = iteration.alpha if alpha is None else alpha
    if not 0 <= alpha <= 1:
        raise ExportError(f"α_k is a rating bar between 0 and 1, got {alpha}.")
    if not 0 <= heldout_share < 1:
        raise ExportError(f"heldout_share is a share below 1, got {heldout_share}.")
    with staged(out_dir, prefix=".aggregate-") as staging:
        files = {part: Files(staging / part) for part in PARTS}
        rows = {(part, name): [] for part in PARTS for name in ("samples", "pairs")}
        # Rows are built against the train folder's files first; a held-out row is rebuilt below
        # against its own folder, so each folder is self-contained.
        for name, row in rows_up_to(iteration, alpha, files["train"]):
            part = "heldout" if held_out(row["object_id"], heldout_share) else "train"
            rows[(part, name)].append(row)
            if progress:
                progress(part, name)
        if rows[("heldout", "samples")] or rows[("heldout", "pairs")]:
            _relocate(rows, files, staging)
        counts = {}
        for part in PARTS:
            (staging / part).mkdir(parents=True, exist_ok=True)
            counts[part] = {}
            for name in ("samples", "pairs"):
                counts[part][name] = len(write_rows(staging / part, name, rows[(part, name)]))
            counts[part]["dpo_pairs"] = sum(1 for r in rows[(part, "pairs")] if r.get("dpo_eligible"))
            manifest = {"project": iteration.project.name, "iteration": iteration.number, "alpha": alpha,
                        "iterations": list(range(1, iteration.number + 1)), "part": part,
                        "heldout_share": heldout_share, "created_at": timezone.now().isoformat(),
                        "counts": counts[part], "format": FORMAT}
            (staging / part / "manifest.json").write_text(json.dumps(manifest, indent=2))
        summary = {"project": iteration.project.name, "iteration": iteration.number, "alpha": alpha,
                   "heldout_share": heldout_share, "counts": counts}
        (staging / "manifest.json").write_text(json.dumps(summary, indent=2))
    return summary


def _relocate(rows, files, staging):
    """Move the held-out rows' files from the train folder into the held-out folder."""
    train, held = staging / "train", staging / "heldout"
    used_by_train = {p for name in ("samples", "pairs") for r in rows[("train", name)] for p in _paths(r)}
    for name in ("samples", "pairs"):
        for row in rows[("heldout", name)]:
            for rel in _paths(row):
                dest = held / rel
                if not dest.exists():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(train / rel, dest)
    for rel in {p for name in ("samples", "pairs") for r in rows[("heldout", name)] for p in _paths(r)} - used_by_train:
        (train / rel).unlink(missing_ok=True)


def _paths(row):
    """Return the relative file paths a row names."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "path" and isinstance(v, str) and v.startswith("files/"):
                    found.append(v)
                else:
                    walk(v)
    walk(row)
    return found
