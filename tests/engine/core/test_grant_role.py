"""`manage.py grant_role`: grants, revokes, and clean errors with a non-zero exit."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import ManagementUtility, call_command
from django.db import connections
from django.test import Client

pytestmark = pytest.mark.django_db


def roles_of(username):
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_grants_and_revokes_roles():
    User.objects.create_user("maria")
    out = io.StringIO()
    call_command("grant_role", "maria", "annotator", "artist", stdout=out)
    assert roles_of("maria") == {"annotator", "artist"}
    assert "roles now: annotator, artist" in out.getvalue()
    call_command("grant_role", "maria", "annotator", "artist", stdout=io.StringIO())  # again: no change, no error
    call_command("grant_role", "maria", "artist", "--revoke", stdout=out)
    assert roles_of("maria") == {"annotator"}


def test_an_engineer_granted_by_the_command_reaches_the_admin():
    user = User.objects.create_user("eve", password="eve")
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 302  # to the admin's login: not staff yet
    call_command("grant_role", "eve", "engineer", stdout=io.StringIO())
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/leases/task/" in index.content  # the engine's models, through the group's permissions
    assert client.get("/admin/leases/task/").status_code == 200
    call_command("grant_role", "eve", "engineer", "--revoke", stdout=io.StringIO())
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("argv, message", [
    (["nobody", "artist"], "No user named 'nobody'"),
    (["maria", "artist", "boss"], "Unknown role(s) boss; the roles are annotator, artist, engineer."),
])
def test_errors_are_one_line_and_exit_non_zero(capsys, monkeypatch, argv, message):
    User.objects.create_user("maria")
    # The command line closes every connection on the way out, this test's transaction's among them.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "grant_role", *argv]).execute()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert roles_of("maria") == set()
