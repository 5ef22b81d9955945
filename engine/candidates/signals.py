"""What candidate generation tells the stages after it.

`set_closed` is sent inside the transaction that closes generation of a `candidate_set` (its
status READY with candidates, or FAILED with none). Routing (engine.ranking.routing) receives it
and opens the next work: Stage 2 ranking tasks, or an artist case for an empty set. The
candidates app imports no later stage.
"""

from django.dispatch import Signal

set_closed = Signal()
