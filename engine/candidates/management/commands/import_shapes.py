"""Import a folder of meshes into the shape library the retrieval generators search."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ("Import OBJ/PLY/GLB/STL/OFF meshes: normalize, repair, drop what the rule-based filter drops "
            "(degenerate volume, flat sheets, far fragments), caption each, and print what was kept.")

    def add_arguments(self, parser):
        parser.add_argument("directory", help="Folder of meshes (searched recursively).")
        parser.add_argument("--category", default="", help="Category for every shape (else from folder names).")
        parser.add_argument("--library", help=f"Library folder (default: {settings.SHAPE_LIBRARY_DIR}).")

    def handle(self, *args, directory, category, library=None, **options):
        from model_suite.library import import_directory

        src = Path(directory)
        if not src.is_dir():
            raise CommandError(f"{src} is not a folder.")
        target = Path(library) if library else Path(settings.SHAPE_LIBRARY_DIR)
        results = import_directory(src, target, category=category)
        if not results:
            raise CommandError(f"No OBJ/PLY/GLB/STL/OFF files under {src}.")
        kept = [r for r in results if r.accepted]
        for r in results:
            if not r.accepted:
                self.stdout.write(f"dropped {r.file}: {r.reason} {r.detail}".rstrip())
        self.stdout.write(self.style.SUCCESS(
            f"{len(kept)} of {len(results)} shapes in the library at {target}; {len(results) - len(kept)} dropped."
        ))
        from engine.candidates.generation import _suite

        _suite.cache_clear()
