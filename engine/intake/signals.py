"""What Stage 1 tells the stages after it.

`objects_selected` is sent inside the transaction that completes a Stage 1 task, with the ids of
the objects it selected (`object_ids`). Candidate generation (engine.candidates) starts for them
once that transaction commits; the intake app imports no later stage.
"""

from django.dispatch import Signal

objects_selected = Signal()
