"""Print, as JSON, how many key presses a simulated annotator needs from each kind of Stage 3 start."""

import time

from engine.loadtest import fit_bench
from engine.loadtest.report import BenchCommand, machine


class Command(BenchCommand):
    help = ("Simulated alignment on render-paste composites with the true mesh: from the old default pose, a "
            "generator-style estimate, and the fitted start (mask only, point cloud), key presses and seconds to a "
            f"mask IoU of {fit_bench.TARGET}. Prints JSON.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--composites", type=int, default=6, help="Composites to align.")
        parser.add_argument("--seed", type=int, default=11)
        parser.add_argument("--target", type=float, default=fit_bench.TARGET, help="The mask IoU to reach.")

    def handle(self, *args, composites, seed, target, out, **options):
        started = time.perf_counter()
        figures = fit_bench.run(composites, seed, target=target)
        protocol = fit_bench.__doc__.split("\n\n")[1].replace("\n", " ")
        report = {"machine": machine(), "protocol": protocol, "target_iou": target,
                  "seconds_per_press": fit_bench.SECONDS_PER_PRESS, "starts": figures,
                  "seconds": round(time.perf_counter() - started, 1)}
        if options["verbosity"] < 2:
            for row in figures.values():
                row.pop("per_object")
        self.write_report(report, out)
