"""Collect (Algorithm 1, step 2): how far iteration k is towards its target, or simulated annotators doing it.

The target counts training samples (objects through Stage 3, or answered by an artist) of
iteration k. People collect in the browser; `simulate` seeds render-paste composites with a
hidden truth and runs a pool of simulated annotators (engine.simulation) through the HTTP API
until the target is met, nobody finds work, or the deadline passes.
"""

from engine.leases.models import Task, TaskStatus
from engine.records.models import TrainingSample

OPEN = (TaskStatus.OPEN, TaskStatus.LEASED)


def collection_progress(iteration):
    """Return {target, samples, open tasks per stage} of iteration k."""
    project = iteration.project
    open_tasks = {}
    for stage in Task.objects.filter(project=project, status__in=OPEN).values_list("stage", flat=True):
        open_tasks[stage] = open_tasks.get(stage, 0) + 1
    return {"target": project.collection_target, "samples": TrainingSample.objects.filter(iteration=iteration).count(),
            "open_tasks": open_tasks}


def simulate(iteration, annotators, *, artists=1, artist_delay=0.0, seed=None, deadline=None, idle_seconds=10.0,
             speed=0.0, progress=None):
    """Drive `annotators` simulated annotators until iteration k has its target; return the pool's report.

    New composites are seeded for the samples still missing (seeded by project and iteration, so
    running it again for the same iteration adds none it already made).
    """
    from engine.simulation.composites import seed_composites
    from engine.simulation.pool import create_pool, run_pool
    from engine.simulation.server import serve

    project = iteration.project
    state = collection_progress(iteration)
    missing = state["target"] - state["samples"]
    if missing <= 0:
        return {"stop_reason": "target already met", "seeded": 0}
    waiting = sum(state["open_tasks"].values())
    seed = project.pk * 1000 + iteration.number if seed is None else seed
    seeded = len(seed_composites(project, max(0, missing - waiting), seed=seed)) if missing > waiting else 0
    pool = create_pool(annotators=annotators, artists=artists, prefix=f"sim{project.pk}", seed=seed)
    with serve() as base_url:
        report = run_pool(pool, base_url, project, target=missing, deadline=deadline, idle_seconds=idle_seconds,
                          speed=speed, artist_delay=artist_delay, progress=progress)
    return {**report.as_dict(), "seeded": seeded}
