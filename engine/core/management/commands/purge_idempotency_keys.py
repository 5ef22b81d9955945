"""Delete the kept answers of Idempotency-Key requests older than a retention window (Stripe keeps 24 h)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from engine.core.models import IdempotentRequest


class Command(BaseCommand):
    help = ("Delete the answers kept for requests sent with an Idempotency-Key (object creation, mesh uploads) "
            "that are older than --older-than hours; a repeat after that runs as a new request. Run it daily "
            "(cron or a scheduler); the table otherwise grows by one row per keyed request.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, default=24.0, metavar="HOURS",
                            help="Retention window in hours (default: 24).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args, older_than=24.0, dry_run=False, **options):
        if not older_than > 0:
            raise CommandError(f"--older-than must be a positive number of hours, got {older_than}.")
        cutoff = timezone.now() - timedelta(hours=older_than)
        old = IdempotentRequest.objects.filter(created_at__lt=cutoff)
        if dry_run:
            self.stdout.write(f"{old.count()} kept answers older than {older_than:g} h would be deleted.")
            return
        deleted, _ = old.delete()
        self.stdout.write(f"deleted {deleted} kept answers older than {older_than:g} h "
                          f"({IdempotentRequest.objects.count()} remain).")
