"""Stage 1 as the queue and the pages know it; registered in IntakeConfig.ready()."""

from engine.core.roles import ANNOTATOR
from engine.intake.api import select_payload, submit_select
from engine.leases.models import Stage
from engine.leases.registry import StageSpec

SELECT = StageSpec(
    name=Stage.SELECT.value, role=ANNOTATOR, label="Stage 1 · Select", order=1,
    related=("project", "image"), payload=select_payload, submit=submit_select,
)
