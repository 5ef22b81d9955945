"""Print, as JSON, how many key presses a simulated annotator needs from each kind of Stage 3 start."""

import json
import platform
import time

from django.core.management.base import BaseCommand

from engine.loadtest import fit_bench


class Command(BaseCommand):
    help = ("Simulated alignment on render-paste composites with the true mesh: from the old default pose, a "
            "generator-style estimate, and the fitted start (mask only, point cloud), key presses and seconds to a "
            f"mask IoU of {fit_bench.TARGET}. Prints JSON.")

    def add_arguments(self, parser):
        parser.add_argument("--composites", type=int, default=6, help="Composites to align.")
        parser.add_argument("--seed", type=int, default=11)
        parser.add_argument("--target", type=float, default=fit_bench.TARGET, help="The mask IoU to reach.")
        parser.add_argument("--out", default="", help="Also write the JSON to this file.")

    def handle(self, *args, composites, seed, target, out, **options):
        started = time.perf_counter()
        figures = fit_bench.run(composites, seed, target=target)
        report = {"machine": f"{platform.machine()}, {_cores()} cores", "protocol": fit_bench.__doc__.split("\n\n")[1]
                  .replace("\n", " "), "target_iou": fit_bench.TARGET, "seconds_per_press": fit_bench.SECONDS_PER_PRESS,
                  "starts": figures, "seconds": round(time.perf_counter() - started, 1)}
        if options["verbosity"] < 2:
            for row in figures.values():
                row.pop("per_object")
        text = json.dumps(report, indent=2)
        if out:
            with open(out, "w") as f:
                f.write(text + "\n")
        self.stdout.write(text)


def _cores():
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
