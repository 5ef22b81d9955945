"""The three roles of the platform, as Django groups."""

from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

ANNOTATOR = "annotator"
ARTIST = "artist"
ENGINEER = "engineer"
ROLES = (ANNOTATOR, ARTIST, ENGINEER)
ROLE_CACHE_SECONDS = 60


def _cache_key(user_id):
    return f"engine:roles:{user_id}"


ENGINE_APPS = ("core", "leases", "intake", "candidates", "ranking", "artists", "alignment", "flywheel")


def ensure_groups():
    """Create the role groups if they are missing; engineers get every permission of the engine's models."""
    from django.contrib.auth.models import Permission

    for name in ROLES:
        group, created = Group.objects.get_or_create(name=name)
        if created and name == ENGINEER:
            group.permissions.set(Permission.objects.filter(content_type__app_label__in=ENGINE_APPS))


def roles_of(user):
    """Return the set of role names the user holds (engineers and superusers hold all)."""
    if not user or not user.is_authenticated:
        return set()
    cached = getattr(user, "_engine_roles", None)
    if cached is not None:
        return cached
    # Every API request checks roles; the cache spares a join per request. Group changes
    # through the ORM clear it (see below); anything else is picked up within ROLE_CACHE_SECONDS.
    key = _cache_key(user.pk)
    names = cache.get(key)
    if names is None:
        names = set(user.groups.values_list("name", flat=True)) & set(ROLES)
        if user.is_superuser or ENGINEER in names:
            names = set(ROLES)
        cache.set(key, names, ROLE_CACHE_SECONDS)
    user._engine_roles = names
    return names


def has_role(user, role):
    """Return True if the user may act in the given role."""
    return role in roles_of(user)


def grant(user, *roles):
    """Add the user to the given role groups."""
    ensure_groups()
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    if ENGINEER in roles and not user.is_staff:
        user.is_staff = True  # engineers use the Django admin
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("_engine_roles", None)


@receiver(m2m_changed, sender=Group.user_set.through)
def _forget_roles(sender, instance, action, pk_set, reverse, **kwargs):
    """Drop cached roles when group membership changes."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    user_ids = [instance.pk] if not reverse else list(pk_set or [])
    if reverse and action == "post_clear":
        user_ids = []  # a cleared group: entries expire within ROLE_CACHE_SECONDS
    cache.delete_many([_cache_key(uid) for uid in user_ids])
