"""Run concurrent claimants against the configured database and print the outcome as JSON.

Used by test_concurrency.py: in-process for PostgreSQL, and as a subprocess with no
DATABASE_URL for the embedded SQLite default (exactly what `make demo` runs on).
"""

import json
import sys
import threading
from collections import Counter


def run(threads, tasks):
    from django.contrib.auth.models import User
    from django.db import connections

    from engine.core.models import Project
    from engine.leases import services as leases
    from engine.leases.models import Stage, Task, TaskStatus

    project = Project.objects.create(name=f"concurrency-{threading.get_ident()}")
    Task.objects.bulk_create([Task(project=project, stage=Stage.ALIGN) for _ in range(tasks)])
    users = [User.objects.create_user(f"claimant-{project.pk}-{i}") for i in range(threads)]
    claims, errors = [], []
    barrier = threading.Barrier(threads)

    def work(user):
        try:
            barrier.wait()
            while True:
                task = leases.claim(user, project.pk, Stage.ALIGN)
                if task is None:
                    break
                claims.append((task.pk, user.pk))
                leases.complete(task, user, response={"by": user.pk})
        except Exception as exc:  # reported to the caller
            errors.append(repr(exc))
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
    return {
        "vendor": connections["default"].vendor,
        "tasks": tasks,
        "claimed": len(counts),
        "duplicates": sum(1 for n in counts.values() if n > 1),
        "done": len(done),
        "wrong_owner": sum(1 for t, u in done.items() if claimed_by.get(t) != u),
        "errors": errors[:5],
    }


if __name__ == "__main__":
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(json.dumps(run(int(sys.argv[1]), int(sys.argv[2]))))
