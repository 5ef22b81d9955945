"""The role groups: made by migrate, granted and revoked, and what an engineer may do in the admin."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command

from engine.core.roles import ENGINE_APPS, ENGINEER, ROLES, ensure_groups, grant, has_role, revoke

pytestmark = pytest.mark.django_db


def engine_permissions():
    """Every permission of the engine's models, and the view of users and groups (who holds which role)."""
    people = Permission.objects.filter(content_type__app_label="auth", codename__in=["view_user", "view_group"])
    return set(Permission.objects.filter(content_type__app_label__in=ENGINE_APPS)) | set(people)


def test_migrate_makes_the_groups_and_gives_engineers_every_engine_permission():
    # The test database was built by migrate alone: nothing here has called grant().
    assert set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == set(ROLES)
    engineer = Group.objects.get(name=ENGINEER)
    assert engine_permissions() and set(engineer.permissions.all()) == engine_permissions()
    assert {p.content_type.app_label for p in engineer.permissions.all()} == {*ENGINE_APPS, "auth"}
    assert not engineer.permissions.filter(content_type__app_label="auth").exclude(codename__startswith="view_")
    assert not Group.objects.get(name="annotator").permissions.exists()


def test_migrate_again_restores_a_deleted_group_and_missing_permissions():
    Group.objects.filter(name="artist").delete()
    engineer = Group.objects.get(name=ENGINEER)
    dropped = Permission.objects.get(codename="view_task", content_type__app_label="leases")
    extra = Permission.objects.get(codename="add_user")  # given by hand: left alone
    engineer.permissions.remove(dropped)
    engineer.permissions.add(extra)
    call_command("migrate", verbosity=0)
    assert Group.objects.filter(name="artist").exists()
    assert set(engineer.permissions.all()) == engine_permissions() | {extra}


def test_ensure_groups_is_idempotent():
    ensure_groups()
    ensure_groups()
    assert Group.objects.filter(name__in=ROLES).count() == len(ROLES)
    assert Group.objects.get(name=ENGINEER).permissions.count() == len(engine_permissions())


def test_grant_then_revoke_engineer_gives_and_takes_the_admin():
    user = User.objects.create_user("someone")
    grant(user, ENGINEER, "artist")
    user = User.objects.get(pk=user.pk)
    assert user.is_staff and has_role(user, "annotator") and user.has_perm("leases.change_task")
    revoke(user, ENGINEER)
    user = User.objects.get(pk=user.pk)
    assert not user.is_staff and not user.has_perm("leases.change_task")
    assert has_role(user, "artist") and not has_role(user, "annotator")


def test_revoking_engineer_leaves_a_superuser_staff():
    admin = User.objects.create_superuser("root", password="root")
    grant(admin, ENGINEER)
    revoke(admin, ENGINEER)
    admin.refresh_from_db()
    assert admin.is_staff


def test_an_unknown_role_is_refused_by_name():
    user = User.objects.create_user("someone")
    with pytest.raises(ValueError, match="Unknown role.*boss.*annotator, artist, engineer"):
        grant(user, "annotator", "boss")
    assert not user.groups.exists()
