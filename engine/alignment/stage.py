"""Stage 3 as the queue and the pages know it; registered in AlignmentConfig.ready()."""

from engine.alignment.api import align_payload, submit_align
from engine.core.roles import ANNOTATOR
from engine.leases.models import Stage
from engine.leases.registry import StageSpec

ALIGN = StageSpec(
    name=Stage.ALIGN.value, role=ANNOTATOR, label="Stage 3 · Align", order=4,
    related=("image", "object", "alignment__candidate", "alignment__artist_mesh"),
    payload=align_payload, submit=submit_align,
)
