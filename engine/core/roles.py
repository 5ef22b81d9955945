"""The three roles of the platform, as Django groups."""

from django.apps import apps as global_apps
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

ANNOTATOR = "annotator"
ARTIST = "artist"
ENGINEER = "engineer"
ROLES = (ANNOTATOR, ARTIST, ENGINEER)
# Not a role: the mark of simulated annotators and artists (engine.simulation), kept out of human statistics.
SIMULATED_GROUP = "simulated"
ROLE_CACHE_SECONDS = 60


def _cache_key(user_id):
    return f"engine:roles:{user_id}"


ENGINE_APPS = ("core", "leases", "intake", "candidates", "records", "ranking", "artists", "alignment", "flywheel",
               "quality")


def ensure_groups(apps=global_apps, using=DEFAULT_DB_ALIAS):
    """Create the role groups if they are missing; give engineers every permission of the engine's models.

    Engineers may also view the users and groups (who holds which role) in the admin.

    Idempotent: runs after every migrate (see CoreConfig.ready), so permissions of models added
    later reach the engineer group too. Permissions given to a group by hand are left alone.
    """
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:  # auth is not installed, or a migrate to a state before it
        return
    groups = group_model.objects.using(using)
    for name in ROLES:
        groups.get_or_create(name=name)
    engineer = groups.get(name=ENGINEER)
    # Engineers also see who works here and in which roles (the admin's users and groups), read-only:
    # changing a user could make anyone a superuser, so roles change with `manage.py grant_role`.
    people = Q(content_type__app_label="auth", codename__in=("view_user", "view_group"))
    missing = (permission_model.objects.using(using).filter(Q(content_type__app_label__in=ENGINE_APPS) | people)
               .exclude(group=engineer))
    engineer.permissions.add(*missing)


def create_groups(sender, app_config=None, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    """Make the role groups after a migrate (a post_migrate receiver)."""
    # post_migrate is sent once per app, after that app's permissions exist: handling each engine
    # app's signal gives engineers the permissions of every engine model by the last one.
    if app_config is not None and app_config.label not in ENGINE_APPS:
        return
    ensure_groups(apps, using)


def roles_of(user):
    """Return the set of role names the user holds (engineers and superusers hold all)."""
    if not user or not user.is_authenticated:
        return set()
    cached = getattr(user, "_engine_roles", None)
    if cached is not None:
        return cached
    # Every API request checks roles; the cache spares a join per request. Group changes
    # through the ORM clear it (see below); anything else is picked up within ROLE_CACHE_SECONDS.
    # The simulated mark travels in the same entry, so is_simulated costs nothing more.
    key = _cache_key(user.pk)
    names = cache.get(key)
    if names is None:
        names = set(user.groups.values_list("name", flat=True)) & {*ROLES, SIMULATED_GROUP}
        if user.is_superuser or ENGINEER in names:
            names |= set(ROLES)
        cache.set(key, names, ROLE_CACHE_SECONDS)
    user._engine_simulated = SIMULATED_GROUP in names
    user._engine_roles = names = names - {SIMULATED_GROUP}
    return names


def is_simulated(user):
    """Return True if the user is a simulated annotator or artist (a member of SIMULATED_GROUP)."""
    if not user or not user.is_authenticated:
        return False
    if getattr(user, "_engine_simulated", None) is None:
        user.__dict__.pop("_engine_roles", None)  # roles cached on the instance before the mark was read
        roles_of(user)
    return user._engine_simulated


def has_role(user, role):
    """Return True if the user may act in the given role."""
    return role in roles_of(user)


def grant(user, *roles):
    """Add the user to the given role groups; an engineer becomes staff, to use the Django admin."""
    _check_roles(roles)
    groups = list(Group.objects.filter(name__in=roles))
    if len(groups) < len(set(roles)):  # migrate makes them; a database emptied since (a test's flush) may not have them
        ensure_groups()
        groups = list(Group.objects.filter(name__in=roles))
    user.groups.add(*groups)
    if ENGINEER in roles and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("_engine_roles", None)
    user.__dict__.pop("_engine_simulated", None)


def revoke(user, *roles):
    """Remove the user from the given role groups; an engineer revoked loses the admin unless a superuser."""
    _check_roles(roles)
    user.groups.remove(*Group.objects.filter(name__in=roles))
    # is_staff only came with the engineer role: left set, it would keep an admin login with no permissions.
    if ENGINEER in roles and user.is_staff and not user.is_superuser:
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("_engine_roles", None)
    user.__dict__.pop("_engine_simulated", None)


def _check_roles(roles):
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"Unknown role(s) {', '.join(unknown)}; the roles are {', '.join(ROLES)}.")


@receiver(m2m_changed, sender=Group.user_set.through)
def _forget_roles(sender, instance, action, pk_set, reverse, **kwargs):
    """Drop cached roles when group membership changes."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    user_ids = [instance.pk] if not reverse else list(pk_set or [])
    if reverse and action == "post_clear":
        user_ids = []  # a cleared group: entries expire within ROLE_CACHE_SECONDS
    cache.delete_many([_cache_key(uid) for uid in user_ids])
