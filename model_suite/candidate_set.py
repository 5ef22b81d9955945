"""Run a suite in-process for one object (the embedded mode without Celery, and the benchmark)."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from .base import CandidateMesh, GenerationContext, Generator


def generator_seed(seed: int, name: str) -> int:
    """Return a per-generator seed, stable across processes (unlike ``hash``), so reruns are idempotent."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31)


def allocate(generators: list[Generator], n: int) -> dict[str, int]:
    """Split ``n`` candidates over the generators round-robin, in suite order: 8 over 3 gives 3, 3, 2."""
    counts = {g.name: 0 for g in generators}
    for i in range(n if generators else 0):
        counts[generators[i % len(generators)].name] += 1
    return {k: v for k, v in counts.items() if v}


@dataclass
class CandidateSetResult:
    """The candidates of one object and, per generator, what happened."""

    candidates: list[CandidateMesh] = field(default_factory=list)
    report: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0


def generate_set(suite: list[Generator], image: np.ndarray, mask: np.ndarray, context: GenerationContext,
                 n: int = 8, seed: int = 0, queues=("cpu", "gpu")) -> CandidateSetResult:
    """Fill a set of ``n`` candidates from the available generators; one failing generator does not sink the set.

    A generator that returns fewer than asked (or fails) leaves its share to the others in a second pass.
    """
    started = time.perf_counter()
    result = CandidateSetResult()
    ready = []
    for g in suite:
        a = g.availability()
        result.report[g.name] = {"ok": a.ok, "reason": a.reason, "count": 0, "seconds": 0.0}
        if a.ok and g.queue in queues:
            ready.append(g)
    wanted = allocate(ready, n)
    for attempt in range(2):
        for g in ready:
            have = result.report[g.name]["count"]
            if wanted.get(g.name, 0) <= have:
                continue
            t = time.perf_counter()
            try:
                # Ask for the whole share with the same seed and keep the new tail: generators return
                # their first k results whatever n is, so a top-up never repeats a candidate.
                got = g.generate(image, mask, context, wanted[g.name], generator_seed(seed, g.name))[have:]
            except Exception as exc:  # recorded for the engine to show; the set goes on without it
                result.report[g.name]["error"] = f"{type(exc).__name__}: {exc}"
                got = []
            result.report[g.name]["seconds"] += time.perf_counter() - t
            result.report[g.name]["count"] += len(got)
            result.candidates.extend(got)
        short = n - len(result.candidates)
        if short <= 0 or attempt:
            break
        # Give the shortfall to generators that delivered in full and did not fail.
        full = [g for g in ready if "error" not in result.report[g.name] and result.report[g.name]["count"] >= wanted.get(g.name, 0)]
        for name, extra in allocate(full, short).items():
            wanted[name] = wanted.get(name, 0) + extra
    result.seconds = time.perf_counter() - started
    return result
