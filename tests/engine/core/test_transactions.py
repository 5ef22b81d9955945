"""on_rollback callbacks run exactly when the rows written beside them are rolled back."""

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.db.transaction import TransactionManagementError

from engine.core import transactions

# The outermost block is the one that decides: these tests run outside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def _write(name, undone):
    User.objects.create(username=name)
    transactions.on_rollback(lambda: undone.append(name))


def test_a_committed_block_keeps_its_work_and_a_failed_one_undoes_it():
    undone = []
    with transactions.atomic():
        _write("kept", undone)
    with pytest.raises(DatabaseError), transactions.atomic():
        _write("lost", undone)
        raise DatabaseError("the write after the file failed")
    assert undone == ["lost"]
    assert list(User.objects.values_list("username", flat=True)) == ["kept"]


def test_a_nested_block_rolled_back_to_its_savepoint_is_undone_while_the_outer_one_commits():
    undone = []
    with transactions.atomic():
        _write("outer", undone)
        with pytest.raises(DatabaseError), transactions.atomic():
            _write("inner", undone)
            raise DatabaseError("refused")
        with transactions.atomic():
            _write("second inner", undone)
            try:  # an error caught inside the block: Django rolls the block back without raising
                with transaction.atomic(savepoint=False):
                    raise DatabaseError("caught")
            except DatabaseError:
                pass
        assert undone == ["inner", "second inner"]
    assert undone == ["inner", "second inner"]
    assert list(User.objects.values_list("username", flat=True)) == ["outer"]


def test_a_nested_block_that_ends_well_is_undone_with_the_outer_one():
    undone = []
    with pytest.raises(DatabaseError), transactions.atomic():
        with transactions.atomic():
            _write("inner", undone)
        _write("outer", undone)
        raise DatabaseError("the outer transaction fails after the inner block ended")
    assert undone == ["outer", "inner"]
    assert not User.objects.exists()


def test_a_commit_callback_that_raises_after_the_commit_undoes_nothing():
    undone = []

    def broken():
        raise RuntimeError("an on_commit callback failed")

    with pytest.raises(RuntimeError), transactions.atomic():
        _write("kept", undone)
        transaction.on_commit(broken)
    assert undone == []
    assert User.objects.filter(username="kept").exists()


def test_on_rollback_outside_a_block_is_refused():
    with pytest.raises(TransactionManagementError, match=r"transactions\.atomic\(\)"), transaction.atomic():
        transactions.on_rollback(lambda: None)
