"""Delete the kept answers of Idempotency-Key requests older than a retention window (Stripe keeps 24 h)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from engine.core import idempotency
from engine.core.models import IdempotentRequest


class Command(BaseCommand):
    help = ("Delete the answers kept for requests sent with an Idempotency-Key (object creation, mesh uploads) "
            "that are older than --older-than hours; a repeat after that runs as a new request. Celery beat runs "
            "the same purge hourly (engine.core.tasks.purge_idempotency_keys); without beat, run this from cron. "
            "The table otherwise grows by one row per keyed request.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, default=None, metavar="HOURS",
                            help="Retention window in hours (default: ENGINE_IDEMPOTENCY_KEY_HOURS, 24).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args, older_than=None, dry_run=False, **options):
        if older_than is None:
            older_than = settings.ENGINE["IDEMPOTENCY_KEY_HOURS"]
        if not older_than > 0:
            raise CommandError(f"--older-than must be a positive number of hours, got {older_than}.")
        if dry_run:
            count = idempotency.expired(older_than).count()
            self.stdout.write(f"{count} kept answers older than {older_than:g} h would be deleted.")
            return
        deleted = idempotency.purge(older_than)
        self.stdout.write(f"deleted {deleted} kept answers older than {older_than:g} h "
                          f"({IdempotentRequest.objects.count()} remain).")
