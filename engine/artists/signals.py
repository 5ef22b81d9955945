"""What the artists app tells the stages after it.

`mesh_submitted` is sent inside the transaction of an artist's submit, with the held `task`, the
submitted `mesh` and the object's `candidate_set`. The stage that takes an accepted mesh on (Stage 3,
engine.alignment) opens its task in a receiver and returns it; the artists app imports no later stage.
"""

from django.dispatch import Signal

mesh_submitted = Signal()
