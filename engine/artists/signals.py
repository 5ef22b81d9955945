"""What the artists app tells the stages after it.

`mesh_submitted` is sent inside the transaction of an artist's submit, once for the case's object and
once for each look-alike the project lets the mesh serve, with that object's `project`, `obj` and
`candidate_set` and the submitted `mesh`. The stage that takes an accepted mesh on (Stage 3,
engine.alignment) opens its task in a receiver and returns it; the artists app imports no later stage.
"""

from django.dispatch import Signal

mesh_submitted = Signal()
