"""export_iteration: D+ samples with r >= α_k, and the same rows in Parquet when pyarrow is installed."""

import json

import pytest
from django.core.management import call_command

from engine.alignment import services as alignment
from engine.leases import services as leases
from engine.leases.models import Stage
from engine.ranking.services import compare, rate, session_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def aligned(project, annotator, annotator2, candidate_set):
    """One set ranked (rated 0.8 against α 0.5) and aligned: one D+ sample, rated 0.8."""
    task = leases.claim(annotator, project.pk, Stage.RANK)
    session_for(task, annotator)
    for position, answer in enumerate(["left", "equal", "right"]):
        compare(task.pk, annotator, position, answer)
    rate(task.pk, annotator, 0.8)
    task = leases.claim(annotator2, project.pk, Stage.ALIGN)
    alignment.submit(task.pk, annotator2, {"quaternion": [1, 0, 0, 0]}, [0, 0, 2], 1.0, 5.0)
    return project.current_iteration()


def export(tmp_path, name="out"):
    out = tmp_path / name
    call_command("export_iteration", "--iteration", "1", "--out", str(out), verbosity=0)
    return out


def test_parquet_holds_the_json_lines_rows(tmp_path, aligned):
    pq = pytest.importorskip("pyarrow.parquet")
    out = export(tmp_path)
    for name in ("samples", "pairs"):
        rows = [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
        table = pq.read_table(out / f"{name}.parquet").to_pylist()
        assert rows and len(table) == len(rows)
        for row, flat in zip(rows, table, strict=True):
            # Nested values travel as JSON text in Parquet.
            assert {k: json.loads(v) if isinstance(row[k], dict | list) else v for k, v in flat.items()} == row


def test_a_sample_rated_below_the_iterations_alpha_is_left_out(tmp_path, aligned):
    assert json.loads((export(tmp_path, "at-0.5") / "manifest.json").read_text())["counts"]["samples"] == 1
    aligned.alpha = 0.85  # α_k raised above the sample's 0.8
    aligned.save(update_fields=["alpha"])
    out = export(tmp_path, "at-0.85")
    assert json.loads((out / "manifest.json").read_text())["counts"]["samples"] == 0
    assert (out / "samples.jsonl").read_text() == ""


@pytest.mark.parametrize("route_failures", [False, True], ids=["no-artists", "artist-not-yet"])
def test_the_candidates_of_a_failed_set_are_exported_as_negatives(tmp_path, project, annotator, candidate_set,
                                                                   route_failures):
    project.route_failures = route_failures
    project.save(update_fields=["route_failures"])
    task = leases.claim(annotator, project.pk, Stage.RANK)
    session_for(task, annotator)
    for position in range(candidate_set.candidates.count() - 1):
        compare(task.pk, annotator, position, "left")
    rate(task.pk, annotator, 0.2)
    out = export(tmp_path)
    rows = [json.loads(line) for line in (out / "negatives.jsonl").read_text().splitlines()]
    assert json.loads((out / "manifest.json").read_text())["counts"] == {"samples": 0, "pairs": 0,
                                                                         "negatives": len(rows)}
    assert sorted(r["id"] for r in rows) == sorted(f"negative-{c.pk}" for c in candidate_set.candidates.all())
    assert all(r["set_ratings"] == [0.2] and (out / r["mesh"]["path"]).is_file() for r in rows)
    assert all((out / r["mask"]["path"]).read_bytes()[:4] == b"\x89PNG" for r in rows)
    # Once a pair holds a candidate as its rejected side (an artist answered the set), it leaves the negatives.
    from engine.records.models import PreferencePair

    kept, paired = list(candidate_set.candidates.order_by("id"))[:2]
    PreferencePair.objects.create(object=candidate_set.object, iteration=candidate_set.iteration, chosen_candidate=kept,
                                  rejected=paired, chosen_source="artist", rejected_source=paired.kind,
                                  chosen_generator="artist", rejected_generator=paired.generator, rating=0.2)
    again = [json.loads(line)["id"] for line in (export(tmp_path, "again") / "negatives.jsonl").read_text().splitlines()]
    assert sorted(again) == sorted(r["id"] for r in rows if r["id"] != f"negative-{paired.pk}")


def test_an_export_whose_stored_file_is_missing_fails_naming_the_file(tmp_path, aligned, engineer, api, settings):
    from django.core.files.storage import default_storage
    from django.core.management.base import CommandError

    from engine.records.models import TrainingSample

    mesh = TrainingSample.objects.get().mesh
    default_storage.delete(mesh)
    settings.EXPORT_ROOT = tmp_path
    # The API's job (run in-process here, as without Redis): a 409 naming the file, not a 500.
    response = api(engineer).post(f"/api/iterations/{aligned.pk}/export/", {"name": "gone"}, format="json")
    assert response.status_code == 409, response.content
    assert f"The stored file {mesh!r} (the {TrainingSample.objects.get().source} mesh) is missing" in \
        response.json()["detail"]
    assert not (tmp_path / "gone").exists()  # nothing half-written
    with pytest.raises(CommandError, match=f"{mesh}.*is missing"):
        export(tmp_path)
