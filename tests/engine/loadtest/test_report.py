"""The bench commands' shared report: JSON on stdout, the same text in --out, and the machine it ran on."""

import io
import json

from django.core.management import call_command

from engine.loadtest.report import BenchCommand, machine


class _Figures(BenchCommand):
    def handle(self, *args, out, **options):
        self.write_report({"machine": machine(), "objects": [1, 2]}, out)


def test_the_report_is_printed_and_written_to_out_as_the_same_json(tmp_path):
    stdout, out = io.StringIO(), tmp_path / "figures.json"
    call_command(_Figures(), "--out", str(out), stdout=stdout)
    assert out.read_text() == stdout.getvalue()
    assert json.loads(out.read_text())["objects"] == [1, 2]
    call_command(_Figures(), stdout=io.StringIO())  # no --out: nothing written, no error


def test_bench_pose_fit_reports_the_target_it_was_given_on_the_shared_report(tmp_path):
    stdout, out = io.StringIO(), tmp_path / "pose.json"
    call_command("bench_pose_fit", "--composites", "1", "--target", "0.7", "--out", str(out), stdout=stdout)
    report = json.loads(out.read_text())
    assert out.read_text() == stdout.getvalue()
    assert report["target_iou"] == 0.7 and report["machine"].endswith(" cores")
    assert set(report["starts"]) and all("per_object" not in row for row in report["starts"].values())
