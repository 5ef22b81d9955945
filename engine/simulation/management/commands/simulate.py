"""Seed composites with hidden truth into a project and let simulated annotators work it through the API."""

import json
from contextlib import nullcontext

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from engine.core.models import Project
from engine.simulation import judging
from engine.simulation.composites import seed_composites
from engine.simulation.pool import create_pool, run_pool
from engine.simulation.server import serve


class Command(BaseCommand):
    help = ("Seed render-paste composites (optional) and run simulated annotators and artists on a project "
            "through the HTTP API; print a JSON summary.")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project id or name.")
        parser.add_argument("--create", action="store_true", help="Create the project (by name) if it is missing.")
        parser.add_argument("--composites", type=int, default=0, help="Composites to render and ingest first.")
        parser.add_argument("--from-library", action="store_true",
                            help="Draw the composites' shapes from SHAPE_LIBRARY_DIR, not the procedural generator.")
        parser.add_argument("--annotators", type=int, default=2)
        parser.add_argument("--artists", type=int, default=1)
        parser.add_argument("--noise", type=float, default=judging.CALIBRATED_NOISE,
                            help=f"σ of the Stage 2 noise; {judging.CALIBRATED_NOISE} gives 75%% agreement.")
        parser.add_argument("--speed", type=float, default=0.0, help="Think seconds per action.")
        parser.add_argument("--artist-delay", type=float, default=0.0, help="Seconds an artist takes per mesh.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--url", default="", help="Base URL of a running engine; default: serve one here.")
        parser.add_argument("--idle", type=float, default=10.0, help="Stop after this many seconds with no work.")
        parser.add_argument("--deadline", type=float, default=None, help="Stop after this many seconds.")
        parser.add_argument("--target", type=int, default=None, help="Stop after this many training samples.")
        parser.add_argument("--prefix", default="sim", help="Names of the simulated users: PREFIX-annotator-0, ...")

    def handle(self, *args, **opts):
        project = self.project(opts["project"], opts["create"])
        seeded = 0
        if opts["composites"]:
            library = settings.SHAPE_LIBRARY_DIR if opts["from_library"] else None
            try:
                seeded = len(seed_composites(project, opts["composites"], seed=opts["seed"], library_dir=library))
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        pool = create_pool(opts["annotators"], opts["artists"], prefix=opts["prefix"], seed=opts["seed"])
        bar = tqdm(total=opts["target"], unit="task", desc="simulated work", disable=opts["verbosity"] == 0)

        def progress(stage, report):
            bar.update(1)
            bar.set_postfix({s[:3]: n for s, n in report["counts"].items()}, refresh=False)

        with nullcontext(opts["url"]) if opts["url"] else serve() as url:
            report = run_pool(pool, url, project, speed=opts["speed"], noise=opts["noise"],
                              artist_delay=opts["artist_delay"], idle_seconds=opts["idle"],
                              deadline=opts["deadline"], target=opts["target"], progress=progress)
        bar.close()
        summary = {"project": project.pk, "composites": seeded, "url": url, **report.as_dict()}
        self.stdout.write(json.dumps(summary, indent=2))

    def project(self, key, create):
        projects = Project.objects.filter(pk=int(key)) if key.isdigit() else Project.objects.filter(name=key)
        found = projects.first()
        if found:
            return found
        if create and not key.isdigit():
            return Project.objects.create(name=key)
        raise CommandError(f"No project {key!r}. Give an existing id or name, or a name with --create.")
