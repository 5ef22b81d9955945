"""Ingest a folder of images into a project, with the quality checks."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from engine.core.errors import EngineError
from engine.core.models import Project
from engine.intake.services import ingest

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class Command(BaseCommand):
    help = "Ingest every image of a folder into a project; print how many passed the quality checks."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--project", required=True, help="Project name.")
        parser.add_argument("--source", default="", help="Source dataset name (default: the folder name).")

    def handle(self, *args, directory, project, source, **options):
        folder = Path(directory)
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        proj = Project.objects.filter(name=project).first()
        if proj is None:
            raise CommandError(f"No project named {project!r}; create it in the admin or with POST /api/projects/.")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
        if not files:
            raise CommandError(f"No images ({', '.join(sorted(SUFFIXES))}) under {folder}.")
        counts = {"new": 0, "duplicate": 0, "rejected_quality": 0, "unreadable": 0}
        for path in tqdm(files, desc="ingest", unit="image", disable=options["verbosity"] == 0):
            try:
                image, created = ingest(proj, path.read_bytes(), path.name, source_dataset=source or folder.name,
                                        source_id=str(path.relative_to(folder)))
            except EngineError as exc:
                counts["unreadable"] += 1
                self.stderr.write(f"{path}: {exc.detail}")
                continue
            if not created:
                counts["duplicate"] += 1
            elif not image.quality_ok:
                counts["rejected_quality"] += 1
                self.stderr.write(f"{path}: {image.quality_reason}")
            else:
                counts["new"] += 1
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in counts.items()))
