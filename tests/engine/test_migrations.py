"""Every model change has its migration: a field's help text too, as the admin and the API schema show it."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_is_missing_its_migration(capsys):
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=1)
    except SystemExit as exit_:  # --check exits non-zero when a migration is missing
        pytest.fail("models differ from the migrations; run manage.py makemigrations:\n" + capsys.readouterr().out
                    + f" (exit {exit_.code})")
