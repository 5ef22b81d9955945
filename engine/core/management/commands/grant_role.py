"""Give a user platform roles, or take them away."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from engine.core import roles as platform_roles
from engine.core.roles import ROLES


class Command(BaseCommand):
    help = (f"Add a user to role groups ({', '.join(ROLES)}); with --revoke, remove them. "
            "An engineer becomes staff, to use the Django admin.")

    def add_arguments(self, parser):
        parser.add_argument("username", help="An existing user's username.")
        parser.add_argument("roles", nargs="+", metavar="role", help=f"One or more of: {', '.join(ROLES)}.")
        parser.add_argument("--revoke", action="store_true", help="Remove the roles instead of granting them.")

    def handle(self, *args, username, roles, revoke=False, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(
                f"No user named {username!r}; create it first (`python manage.py createsuperuser` or the admin)."
            ) from None
        try:
            (platform_roles.revoke if revoke else platform_roles.grant)(user, *roles)
        except ValueError as exc:  # an unknown role
            raise CommandError(str(exc)) from None
        held = sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        self.stdout.write(f"{username}: {'revoked' if revoke else 'granted'} {', '.join(roles)}; "
                          f"roles now: {', '.join(held) or 'none'}")

