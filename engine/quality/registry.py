"""What quality control knows of each stage: stage apps register a QualitySpec in their AppConfig.ready().

Quality control imports no stage, as the queue does not (engine/leases/registry.py): a stage that
can be checked says how a completed task of it becomes a gold answer, what an engineer's review
decision does to a flagged task of it, and how its overlap copies agree.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class QualitySpec:
    """The quality hooks of one stage (`stage`: a value of leases.models.Stage)."""

    stage: str
    # gold_answer(task) -> dict of GoldStandard fields (answer, candidate_set, candidate, artist_mesh)
    # for a completed task of the stage; raises EngineError naming why the task cannot be gold.
    gold_answer: Callable
    # review(flag, accept) -> dict: what accepting or rejecting a flagged task of the stage does.
    review: Callable
    # agreement(project, users) -> {user id: {"pairs": n, "agreed": k, ...}} over overlap copies, or None.
    agreement: Callable | None = None


_specs: dict[str, QualitySpec] = {}


def register(spec):
    """Add a stage's quality hooks; a second registration under one stage is an error."""
    if spec.stage in _specs:
        raise ImproperlyConfigured(f"Quality hooks of stage {spec.stage!r} are already registered; register once, "
                                   "in the stage app's AppConfig.ready().")
    _specs[spec.stage] = spec


def get(stage):
    """Return the QualitySpec of a stage, or None when the stage has no quality hooks."""
    return _specs.get(stage)


def specs():
    """Return every registered QualitySpec, by stage name."""
    return [_specs[name] for name in sorted(_specs)]
