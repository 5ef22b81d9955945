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
