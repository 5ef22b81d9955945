"""transaction.atomic with a rollback hook, for the files stored beside a transaction's rows.

Django runs callbacks when a transaction commits (`transaction.on_commit`) but has none for a
rollback, so a file written along with rows that are then rolled back (by a later write of the
same transaction, or by its commit) stays on disk with no row pointing at it. A block that
stores files opens `atomic()` from here instead of Django's and registers each file's removal
with `on_rollback()`; the removal runs if the block's work is undone, and only then.

A block nested in another of these is undone when its savepoint is rolled back; otherwise its
callbacks join the enclosing block's. The outermost block is undone unless its transaction
committed, which is Django's own answer: a callback it registers first with on_commit runs on
commit, before any other (so a later callback that raises after the commit is not taken for a
rollback). Inside a transaction opened with Django's own atomic (a test's, say), a block's
callbacks run if the block itself is rolled back; otherwise they are dropped, since that
transaction ends where this module cannot see it: open the outermost block here.
"""

import logging
import threading
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.transaction import TransactionManagementError

logger = logging.getLogger(__name__)
_open = threading.local()  # per database alias: the callback lists of the blocks open in this thread, outermost first


def _blocks(using):
    return _open.__dict__.setdefault(using, [])


@contextmanager
def atomic(using=None):
    """Open transaction.atomic(using) in which on_rollback() registers what to undo if it is rolled back."""
    using = using or DEFAULT_DB_ALIAS
    outermost = not connections[using].in_atomic_block
    blocks = _blocks(using)
    callbacks = []
    committed = []
    undone = True
    blocks.append(callbacks)
    try:
        with transaction.atomic(using):
            if outermost:
                transaction.on_commit(lambda: committed.append(True), using)
            yield
            # Django rolls back a block marked for rollback (an error caught inside it) without raising.
            undone = transaction.get_rollback(using)
    finally:
        blocks.pop()
        if outermost:
            undone = not committed
        if undone:
            _run(callbacks)
        elif blocks:
            blocks[-1].extend(callbacks)


def on_rollback(func, using=None):
    """Call func() if the innermost open atomic() block of this module is rolled back."""
    blocks = _blocks(using or DEFAULT_DB_ALIAS)
    if not blocks:
        raise TransactionManagementError(
            "on_rollback() needs an open engine.core.transactions.atomic() block; write inside one."
        )
    blocks[-1].append(func)


def _run(callbacks):
    # Newest first, and each whatever the others do: they run while an error is on its way up.
    for func in reversed(callbacks):
        try:
            func()
        except Exception:
            logger.exception("a rollback callback failed: %r", func)
