"""What the bench commands share: their figures as JSON on stdout and, with --out, in a file."""

import json
import os
import platform
from pathlib import Path

from django.core.management.base import BaseCommand


class BenchCommand(BaseCommand):
    """A command that prints its figures as one JSON report; `--out FILE` keeps a copy."""

    def add_arguments(self, parser):
        parser.add_argument("--out", default="", help="Also write the JSON to this file.")

    def write_report(self, report, out=""):
        """Print the report as indented JSON, and write the same text to `out` when it names a file."""
        text = json.dumps(report, indent=2)
        if out:
            Path(out).write_text(text + "\n")
        self.stdout.write(text)


def machine():
    """Return the processor and the cores this process may run on, e.g. "x86_64, 2 cores"."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.processor() or platform.machine()}, {cores} cores"
