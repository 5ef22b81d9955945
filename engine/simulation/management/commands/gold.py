"""List a project's gold answers, or make them from the hidden truth of its composites."""

import json

from django.core.management.base import BaseCommand, CommandError

from engine.core.models import Project
from engine.quality.api import gold_json
from engine.quality.models import GoldStandard
from engine.simulation.gold import gold_from_truth


class Command(BaseCommand):
    help = ("Gold answers of a project as JSON. --from-simulation makes them from the composites' hidden truth "
            "(engine/simulation/gold.py); an engineer can also mark a completed task: POST /api/tasks/ID/gold/. "
            "They are served at the project's gold_rate.")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project id or name.")
        parser.add_argument("--from-simulation", action="store_true",
                            help="Make gold answers of every composite with a candidate set (idempotent).")
        parser.add_argument("--stage", choices=["rank", "align"], action="append",
                            help="Only this stage (repeatable; default both).")

    def handle(self, *args, project, from_simulation=False, stage=None, **opts):
        found = (Project.objects.filter(pk=int(project)) if project.isdigit()
                 else Project.objects.filter(name=project)).first()
        if found is None:
            raise CommandError(f"No project {project!r}; give an existing id or name.")
        out = {"project": found.pk}
        if from_simulation:
            out["made"] = gold_from_truth(found, tuple(stage or ("rank", "align")))
        golds = GoldStandard.objects.filter(project=found).order_by("id")
        out["gold"] = [gold_json(g) for g in golds]
        self.stdout.write(json.dumps(out, indent=2, default=str))
