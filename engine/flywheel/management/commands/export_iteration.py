"""Export the D+ samples and preference pairs of an iteration for the trainer."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from engine.core.models import Iteration, Project
from engine.flywheel.export import ExportError, export_iteration


class Command(BaseCommand):
    help = "Write JSON Lines (and Parquet) of an iteration's samples (r ≥ α_k) and preference pairs."

    def add_arguments(self, parser):
        parser.add_argument("--iteration", type=int, required=True, help="Iteration number k.")
        parser.add_argument("--out", required=True, help="Output folder (must be new or empty).")
        parser.add_argument("--project", help="Project name (needed when several projects exist).")

    def handle(self, *args, iteration, out, project=None, **options):
        projects = Project.objects.all() if not project else Project.objects.filter(name=project)
        if project and not projects.exists():
            raise CommandError(f"No project named {project!r}.")
        found = Iteration.objects.filter(project__in=projects, number=iteration)
        if found.count() > 1:
            names = ", ".join(found.values_list("project__name", flat=True))
            raise CommandError(f"Iteration {iteration} exists in several projects ({names}); pass --project.")
        it = found.first()
        if it is None:
            raise CommandError(f"No iteration {iteration}" + (f" in project {project!r}." if project else "."))
        bar = tqdm(desc=f"export iteration {iteration}", unit="row", disable=options["verbosity"] == 0)
        try:
            manifest = export_iteration(it, out, progress=lambda name: bar.update())
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        self.stdout.write(
            f"Wrote {manifest['counts']['samples']} samples and {manifest['counts']['pairs']} pairs to {out}"
        )
