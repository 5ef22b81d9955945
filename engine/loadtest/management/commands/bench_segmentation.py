"""Print the Stage 1 segmentation figures as JSON: mask IoU per click and answer time, before and after."""

import time

import numpy as np

from engine.loadtest import segment_bench
from engine.loadtest.report import BenchCommand, machine


class Command(BenchCommand):
    help = ("Simulated clicks (the NoC protocol) against true masks: the hand-outlined objects of scikit-image's "
            "photographs and render-paste composites. Prints JSON: mIoU after k clicks, NoC@85/90 and the time of "
            "each answer, for the built-in segmenter (clicks alone, and a box then clicks) and the method it replaced.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--composites", type=int, default=12, help="Render-paste composites to add (0: none).")
        parser.add_argument("--clicks", type=int, default=segment_bench.MAX_CLICKS, help="Clicks per object.")
        parser.add_argument("--no-legacy", action="store_true", help="Skip the method before issue 22.")

    def handle(self, *args, composites, clicks, out, no_legacy, **options):
        from engine.intake.segment import BuiltinSegmenter

        segment_bench.MAX_CLICKS = clicks
        sets = {"photographs": list(segment_bench.photographs())}
        if composites:
            sets["composites"] = list(segment_bench.composites(composites))
        builtin = BuiltinSegmenter()
        methods = {"builtin": (builtin.segment, (False, True))}
        if not no_legacy:
            methods["before"] = (segment_bench.legacy_grabcut, (False,))
        protocol = segment_bench.__doc__.split("\n\n")[1].replace("\n", " ")
        report = {"machine": machine(), "protocol": protocol, "max_clicks": clicks, "sets": {}}
        started = time.perf_counter()
        for set_name, objects in sets.items():
            area = round(float(np.mean([m.mean() for _, _, m in objects])), 3)
            report["sets"][set_name] = {"objects": [name for name, _, _ in objects], "true_area_fraction": area}
            for method, (fn, modes) in methods.items():
                for with_box in modes:
                    runs = [segment_bench.run(fn, rgb, mask, with_box, key=name) for name, rgb, mask in objects]
                    label = f"{method}_{'box_then_clicks' if with_box else 'clicks'}"
                    report["sets"][set_name][label] = segment_bench.summarize(runs, with_box)
                    if options["verbosity"] > 1:
                        report["sets"][set_name][label]["per_object"] = {
                            name: [round(v, 3) for v in r["ious"]] for (name, _, _), r in zip(objects, runs)}
        report["seconds"] = round(time.perf_counter() - started, 1)
        self.write_report(report, out)
