"""Run concurrent claimants against the configured database and print the outcome as JSON.

Used by test_concurrency.py: in-process for PostgreSQL, and as a subprocess with no
DATABASE_URL for the embedded SQLite default (exactly what `make demo` runs on).
`run` is many annotators sharing a pool; `tabs` is one annotator claiming from many tabs at once.
"""

import json
import sys
import threading
from collections import Counter

# What the bench's clients submit (engine/loadtest/bench.py POSE).
ROTATION, TRANSLATION, SCALE = {"quaternion": [1, 0, 0, 0]}, [0, 0, 2], 1.0


def run(threads, tasks):
    """Have `threads` users claim and submit a pool of `tasks` Stage 3 tasks as the API does; count the outcome."""
    from django.contrib.auth.models import User
    from django.db import connections

    from engine.alignment import services as alignment
    from engine.intake.models import ObjectInstance, ObjectStatus
    from engine.leases import services as leases
    from engine.leases.models import Stage, Task, TaskStatus
    from engine.loadtest.bench import make_pool
    from engine.records.models import TrainingSample

    # The bench's pool: alignment tasks with an object, a candidate set and a mesh, so that the
    # submit below runs the whole stage handler and not only the lease bookkeeping.
    project, _ = make_pool(tasks, 0)
    users = [User.objects.create_user(f"{project.name}-claimant-{i}") for i in range(threads)]
    claims, errors = [], []
    barrier = threading.Barrier(threads)

    def work(user):
        try:
            barrier.wait()
            while True:
                task = leases.serve(user, project.pk, Stage.ALIGN)  # what POST /api/tasks/claim/ calls
                if task is None:
                    break
                claims.append((task.pk, user.pk))
                # What POST /api/tasks/{id}/submit/ calls: hold() locks the row and checks this
                # user's lease, so a task also handed to someone else fails here (lease_not_held).
                alignment.submit(task.pk, user, ROTATION, TRANSLATION, SCALE, seconds=1.0, key=f"c{task.pk}")
        except Exception as exc:  # reported to the caller; this claimant stops
            errors.append(f"{type(exc).__name__}({getattr(exc, 'code', '')}): {exc}")
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work, args=(u,)) for u in users]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    counts = Counter(task_id for task_id, _ in claims)
    done = dict(Task.objects.filter(project=project, status=TaskStatus.DONE).values_list("id", "completed_by_id"))
    claimed_by = dict(claims)
    objects = ObjectInstance.objects.filter(image__project=project)
    return {
        "vendor": connections["default"].vendor,
        "tasks": tasks,
        "claimed": len(counts),
        "duplicates": sum(1 for n in counts.values() if n > 1),
        "done": len(done),
        "wrong_owner": sum(1 for t, u in done.items() if claimed_by.get(t) != u),
        # The stage handler's writes: one training sample and a finished object per task.
        "samples": TrainingSample.objects.filter(alignment__task__project=project).count(),
        "objects_done": objects.filter(status=ObjectStatus.DONE).count(),
        "errors": errors[:5],
    }


def tabs(threads, rounds):
    """Have one annotator claim Stage 2 tasks from `threads` tabs at once, `rounds` times; count what they held.

    Every object has two rank tasks (overlap 2, meant for two annotators). In each round all
    tabs claim at the same moment, as POST /api/tasks/claim/ does (leases.serve); then the task
    they were served is completed, so the next round claims afresh.
    """
    from django.contrib.auth.models import User
    from django.db import connections

    from engine.core.models import Project
    from engine.intake.models import Image, ObjectInstance
    from engine.leases import services as leases
    from engine.leases.models import Stage, Task, TaskStatus

    project = Project.objects.create(name=f"tabs-{threads}x{rounds}", ranking_overlap=2)
    image = Image.objects.create(project=project, width=64, height=64, sha256="tabs", source_dataset="tabs")
    for _ in range(rounds + 1):
        obj = ObjectInstance.objects.create(image=image, mask_rle={"size": [64, 64], "counts": [0, 4096]}, area=4096,
                                            bbox=[0, 0, 64, 64], category="box")
        for _ in range(project.ranking_overlap):
            leases.create(project, Stage.RANK, image=image, object=obj)
    user = User.objects.create_user(f"{project.name}-annotator")
    served, errors = [], []
    barrier = threading.Barrier(threads)

    def tab(round_served):
        try:
            barrier.wait()
            task = leases.serve(user, project.pk, Stage.RANK)
            round_served.append(task.pk if task else None)
        except Exception as exc:  # reported to the caller
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    for _ in range(rounds):
        round_served = []
        workers = [threading.Thread(target=tab, args=(round_served,)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        served.append(sorted(set(round_served), key=str))
        held = Task.objects.filter(project=project, status=TaskStatus.LEASED, lease_owner=user)
        for task in held:  # what a submit does to the lease
            leases.complete(task, user)
    done = Task.objects.filter(project=project, status=TaskStatus.DONE, completed_by=user)
    return {
        "vendor": connections["default"].vendor,
        "rounds": rounds,
        # Each round's tabs must all have been served one and the same task.
        "rounds_with_several_tasks": sum(1 for tasks in served if len(tasks) > 1),
        "rounds_served_nothing": sum(1 for tasks in served if tasks == [None]),
        "objects_ranked_twice": sum(1 for n in Counter(done.values_list("object_id", flat=True)).values() if n > 1),
        "errors": errors[:5],
    }


if __name__ == "__main__":
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if sys.argv[1] == "tabs":
        print(json.dumps(tabs(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        print(json.dumps(run(int(sys.argv[1]), int(sys.argv[2]))))
