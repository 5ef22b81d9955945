"""Compare engine.core.rows with the ORM on the configured database; print the outcome as JSON.

Used by test_rows.py: in-process for PostgreSQL, and as a subprocess with no DATABASE_URL for
the embedded SQLite default, so both backends' converters and placeholders are exercised.
"""

import json
from datetime import timedelta


def _fields(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def run():
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from engine.alignment.models import Alignment
    from engine.candidates.models import Candidate, CandidateSet, SetStatus
    from engine.core import rows
    from engine.core.models import Project
    from engine.intake.models import Image, ObjectInstance
    from engine.leases.models import Stage, Task, TaskStatus
    from engine.records.models import TrainingSample

    checks = {}
    user = User.objects.create_user(f"rows-{timezone.now().timestamp()}")
    project = Project.objects.create(name=f"rows-{user.pk}")
    image = Image.objects.create(project=project, width=64, height=48, sha256=f"rows-{user.pk}", file="x.png",
                                 intrinsics={"fx": 50.0, "fy": 50.0, "cx": 32.0, "cy": 24.0})
    obj = ObjectInstance.objects.create(image=image, mask_rle={"size": [48, 64], "counts": [10, 20, 3042]},
                                        area=20, bbox=[1, 2, 3, 4], category="mug", description="a blue mug")
    cset = CandidateSet.objects.create(object=obj, iteration=project.current_iteration(), status=SetStatus.ACCEPTED)
    candidate = Candidate.objects.create(candidate_set=cset, generator="g", generator_version="1", kind="retrieval",
                                         seed=7, mesh="m.glb", pose={"R": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]})
    task = Task.objects.create(project=project, stage=Stage.ALIGN, image=image, object=obj, candidate_set=cset,
                               status=TaskStatus.LEASED, lease_owner=user,
                               lease_expires_at=timezone.now() + timedelta(minutes=5), submit_response={"a": [1, 2]})
    Alignment.objects.create(task=task, candidate=candidate, rating=0.75)
    bare = Task.objects.create(project=project, stage=Stage.SELECT)

    paths = ("image", "object", "candidate_set__iteration", "alignment__candidate", "alignment__artist_mesh")
    orm = Task.objects.select_related(*paths).get(pk=task.pk)
    with CaptureQueriesContext(connection) as queries:
        fetched = rows.Fetch(Task, *paths).get(task.pk)
        same = {
            "task": _fields(fetched) == _fields(orm),
            "image": _fields(fetched.image) == _fields(orm.image),
            "object": _fields(fetched.object) == _fields(orm.object),
            "iteration": _fields(fetched.candidate_set.iteration) == _fields(orm.candidate_set.iteration),
            "alignment": _fields(fetched.alignment) == _fields(orm.alignment),
            "candidate": _fields(fetched.alignment.candidate) == _fields(orm.alignment.candidate),
            "artist_mesh_none": fetched.alignment.artist_mesh is None,
            "back_link": fetched.alignment.task is fetched,
        }
    # The same joins over a named source (a WITH query), as the claim statement uses them.
    fetch = rows.Fetch(Task, *paths)
    sourced = fetch.first(f"WITH chosen AS (SELECT * FROM {Task._meta.db_table} WHERE id = %(id)s) "
                          + fetch.select_from("chosen", connection.alias), {"id": task.pk}, connection.alias)
    same["select_from"] = (_fields(sourced) == _fields(orm) and _fields(sourced.alignment.candidate)
                           == _fields(orm.alignment.candidate) and sourced.alignment.artist_mesh is None)
    checks["fetch_matches_select_related"] = same
    checks["fetch_queries"] = len(queries)
    checks["types"] = {
        "aware_datetime": timezone.is_aware(fetched.lease_expires_at),
        "json_dict": fetched.object.mask_rle == {"size": [48, 64], "counts": [10, 20, 3042]},
        "json_on_task": fetched.submit_response == {"a": [1, 2]},
        "file_field": fetched.alignment.candidate.mesh.name == "m.glb",
    }
    lone = rows.Fetch(Task, "image", "alignment").get(bare.pk)
    with CaptureQueriesContext(connection) as queries:
        checks["null_forward_is_none"] = lone.image is None
        try:
            lone.alignment
            checks["missing_reverse_raises"] = False
        except Alignment.DoesNotExist:
            checks["missing_reverse_raises"] = True
    checks["nulls_cost_no_query"] = len(queries) == 0
    checks["unknown_pk_is_none"] = rows.Fetch(Task).get(10**9) is None

    with transaction.atomic():
        locked = rows.Fetch(Task, "object", for_update=True).get(task.pk)
        locked.object.status = "done"
        locked.status, locked.submit_key, locked.completed_at = TaskStatus.DONE, "k-1", timezone.now()
        locked.submit_response = {"sample": 3, "rotation": [1.0, 0.0, 0.0, 0.0]}
        changed = rows.update(locked, ["status", "submit_key", "completed_at", "submit_response"])
        rows.update(locked.object, ["status"])
    stored = Task.objects.get(pk=task.pk)
    checks["update"] = {
        "rowcount": changed,
        "stored": (stored.status, stored.submit_key, stored.submit_response)
        == (TaskStatus.DONE, "k-1", {"sample": 3, "rotation": [1.0, 0.0, 0.0, 0.0]}),
        "datetime": abs((stored.completed_at - locked.completed_at).total_seconds()) < 1e-3,
        "untouched": stored.lease_owner_id == user.pk,
        "object": ObjectInstance.objects.get(pk=obj.pk).status == "done",
    }
    # Several rows of different tables in one statement (PostgreSQL) or one by one (SQLite).
    other = Task.objects.create(project=project, stage=Stage.SELECT)
    with transaction.atomic():
        rows.update_all([
            (ObjectInstance(pk=obj.pk, description="a red mug", status="aligning"), ["description", "status"]),
            (Task(pk=other.pk, submit_key="k-2", submit_response=[1, {"b": None}]), ["submit_key", "submit_response"]),
            (Task(pk=task.pk, priority=7), ["priority"]),
        ])
    again, stored_other = ObjectInstance.objects.get(pk=obj.pk), Task.objects.get(pk=other.pk)
    checks["update"]["update_all"] = (
        (again.description, again.status, again.mask_rle["counts"]) == ("a red mug", "aligning", [10, 20, 3042])
        and (stored_other.submit_key, stored_other.submit_response) == ("k-2", [1, {"b": None}])
        and Task.objects.get(pk=task.pk).priority == 7 and stored_other.priority == 0
    )

    sample = rows.insert(TrainingSample(
        object=obj, iteration_id=cset.iteration_id, alignment=stored.alignment, mesh="m.glb", source="retrieval",
        generator="g", rotation=[1.0, 0.0, 0.0, 0.0], translation=[0.0, 0.1, 2.0], scale=1.5, rating=0.75,
    ))
    back = TrainingSample.objects.get(pk=sample.pk)
    checks["insert"] = {
        "pk": sample.pk is not None and not sample._state.adding,
        "auto_now_add": back.created_at is not None and sample.created_at == back.created_at,
        "json": back.translation == [0.0, 0.1, 2.0] and back.rotation == [1.0, 0.0, 0.0, 0.0],
        "null_fk": back.checkpoint_id is None,
    }
    return {"vendor": connection.vendor, **checks}


if __name__ == "__main__":
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(json.dumps(run(), default=str))
