"""What artist triage did with a project's Stage 2 failures, as JSON; --recluster tries other thresholds offline."""

import json

from django.core.management.base import BaseCommand, CommandError

from engine.artists import triage
from engine.core.models import Project


class Command(BaseCommand):
    help = ("Print how a project's failures were triaged: failures, clusters of look-alikes, artist tasks, by "
            "outcome and category (engine/artists/triage.py). --recluster D... replays the recorded failures "
            "through the clustering at other distances, read-only, to choose artist_cluster_distance.")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project id or name.")
        parser.add_argument("--recluster", type=float, nargs="+", default=[], metavar="DISTANCE",
                            help="Distances to replay the recorded failures at (0 to 2).")
        parser.add_argument("--share", type=float, default=None, help="artist_share for --recluster (default: the project's).")

    def handle(self, *args, project, recluster, share=None, **opts):
        found = (Project.objects.filter(pk=int(project)) if project.isdigit()
                 else Project.objects.filter(name=project)).first()
        if found is None:
            raise CommandError(f"No project {project!r}; give an existing id or name.")
        if any(not 0 <= d <= 2 for d in recluster):
            raise CommandError("--recluster distances are cosine distances between 0 and 2.")
        out = triage.summary(found)
        if recluster:
            out["recluster"] = triage.recluster(found, recluster, share=share)
        self.stdout.write(json.dumps(out, indent=2))
