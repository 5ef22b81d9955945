"""Print, as JSON, how near the truth each best-of-N ranking keeps our model's candidates, beside retrieval's."""

import time

from django.conf import settings
from django.core.management.base import CommandError
from tqdm import tqdm

from engine.loadtest import best_of_bench
from engine.loadtest.report import BenchCommand, machine


class Command(BenchCommand):
    help = ("Our model's best-of-N on render-paste composites with a hidden truth: the true distance of the "
            "candidates each ranking keeps (seed order, silhouette, category fit, oracle) against text retrieval's. "
            "Prints JSON.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--checkpoint", required=True, help="A trainer checkpoint folder (a run or one step).")
        parser.add_argument("--library", default="", help="Shape library folder (default: SHAPE_LIBRARY_DIR).")
        parser.add_argument("--objects", type=int, default=40, help="Composites (default: 40).")
        parser.add_argument("--best-of", type=int, default=12, help="Samples per object, M (default: 12).")
        parser.add_argument("--keep", type=int, default=3, help="Candidates each ranking keeps, k (default: 3).")
        parser.add_argument("--seed", type=int, default=777,
                            help="Composites' seed (default: 777, none of the demo's).")

    def handle(self, *args, checkpoint, library, objects, best_of, keep, seed, out, verbosity, **options):
        from model_suite.flow_model import FlowModelGenerator
        from model_suite.library import Library

        library = library or str(settings.SHAPE_LIBRARY_DIR)
        if objects < 2 or keep < 1 or best_of < keep:
            raise CommandError("--objects must be at least 2, --keep at least 1, and --best-of at least --keep.")
        available = FlowModelGenerator(checkpoint).availability()
        if not available.ok:
            raise CommandError(f"--checkpoint: {available.reason}")
        if not len(Library(library)):
            raise CommandError(f"--library: no shapes in {library} (run seed_demo or import_shapes first).")
        started = time.perf_counter()
        with tqdm(total=objects, desc="objects", disable=verbosity == 0) as bar:
            rows = best_of_bench.score_objects(checkpoint, library, objects, best_of, seed, keep,
                                               progress=lambda i: bar.update())
        report = {"machine": machine(), "protocol": best_of_bench.__doc__.split("\n\n")[1].replace("\n", " "),
                  "checkpoint": checkpoint, "library": library, "best_of": best_of, "keep": keep, "seed": seed,
                  **best_of_bench.summarize(rows, keep), "seconds": round(time.perf_counter() - started, 1)}
        self.write_report(report, out)
