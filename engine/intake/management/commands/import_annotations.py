"""Import COCO instance annotations as Stage 1 proposals annotators confirm, fix or reject."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from engine.core.models import Project
from engine.intake.importing import ImportRefused, import_annotations


def _mapping(pairs):
    out = {}
    for pair in pairs:
        name, sep, slug = pair.rpartition("=")
        if not sep or not name.strip() or not slug.strip():
            raise CommandError(f"--map takes 'COCO NAME=slug', got {pair!r}.")
        out[name.strip()] = slug.strip()
    return out


class Command(BaseCommand):
    help = ("Import a COCO instance-annotation file (polygons or RLE) into a project as Stage 1 proposals: each "
            "annotation becomes an object annotators confirm, fix or reject instead of drawing it. Everything is "
            "checked first; on any problem nothing is imported and every problem is listed. Importing the same "
            "file again adds nothing. Prints the report as JSON.")

    def add_arguments(self, parser):
        parser.add_argument("annotations", help="The COCO JSON file (instances_*.json).")
        parser.add_argument("--project", required=True, help="Project name.")
        parser.add_argument("--images", help="Folder the file's file_name paths are relative to: images not yet "
                                             "ingested are ingested from it (with the quality checks).")
        parser.add_argument("--dataset", default="", help="Name recorded on each proposal (default: info.description "
                                                          "of the file, else 'coco').")
        parser.add_argument("--map", action="append", default=[], metavar="NAME=SLUG",
                            help="Map a COCO category name the taxonomy's synonyms miss (repeatable).")
        parser.add_argument("--skip-unmapped", action="store_true",
                            help="Leave out annotations of categories that map onto nothing (they are counted).")
        parser.add_argument("--dry-run", action="store_true", help="Check and report; write nothing.")

    def handle(self, *args, annotations, project, images=None, dataset="", map=(), skip_unmapped=False,
               dry_run=False, **options):
        path = Path(annotations)
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        if images and not Path(images).is_dir():
            raise CommandError(f"--images {images} is not a folder.")
        proj = Project.objects.filter(name=project).first()
        if proj is None:
            raise CommandError(f"No project named {project!r}; create it in the admin or with POST /api/projects/.")
        try:
            report = import_annotations(proj, path.read_bytes(), images_dir=images, dataset=dataset,
                                        category_map=_mapping(map), skip_unmapped=skip_unmapped, dry_run=dry_run)
        except ImportRefused as exc:
            self.stdout.write(json.dumps(exc.report, indent=2))
            raise CommandError(str(exc.detail)) from None
        self.stdout.write(json.dumps(report, indent=2))
        verb = "would import" if dry_run else "imported"
        self.stderr.write(f"{verb} {report['imported']} proposal(s); {report['already_imported']} already imported, "
                          f"{report['duplicates_in_file']} duplicate(s) in the file, "
                          f"{sum(report['skipped_unmapped'].values())} of unmapped categories, "
                          f"{report['skipped_crowd']} crowd region(s) left out.")
