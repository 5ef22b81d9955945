"""Print the Elo and Bradley–Terry ratings of a project's generators and checkpoints."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from engine.core.errors import EngineError
from engine.core.models import Project
from engine.ranking import ratings


class Command(BaseCommand):
    help = ("Print Bradley–Terry ratings (Elo scale, 95 % bootstrap interval), online Elo and win/loss/tie "
            "counts of a project's generators and checkpoints from its Stage 2 comparisons.")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project name (or id).")
        parser.add_argument("--iteration", type=int, action="append", metavar="K",
                            help="Only comparisons of iteration K (repeat for several); all by default.")
        parser.add_argument("--bootstrap", type=int, default=ratings.BOOTSTRAP_ROUNDS,
                            help="Bootstrap resamples for the intervals (0 for none).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap resamples.")
        parser.add_argument("--humans-only", action="store_true",
                            help="Leave out comparisons made by simulated annotators.")
        parser.add_argument("--json", dest="json_file", metavar="FILE", help="Also write the ratings as JSON to FILE.")

    def handle(self, *args, project, iteration, bootstrap, seed, humans_only, json_file, **options):
        found = Project.objects.filter(name=project).first()
        if found is None and project.isdigit():
            found = Project.objects.filter(pk=int(project)).first()
        if found is None:
            names = ", ".join(Project.objects.order_by("name").values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No project named {project!r} (projects: {names}).")
        if bootstrap < 0:
            raise CommandError(f"--bootstrap is a number of resamples (0 or more), got {bootstrap}.")
        try:
            result = ratings.project_ratings(found, iteration, include_simulated=not humans_only,
                                             rounds=bootstrap, seed=seed)
        except EngineError as exc:
            raise CommandError(str(exc.detail)) from None
        self.stdout.write(ratings.format_table(result["generators"], "generator"))
        self.stdout.write("")
        self.stdout.write(ratings.format_table(result["checkpoints"], "checkpoint"))
        if json_file:
            Path(json_file).write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
            self.stdout.write(f"\nWrote {json_file}")
