"""Stage 2.5 as the queue and the pages know it; registered in ArtistsConfig.ready()."""

from engine.artists.api import artist_payload, submit_artist
from engine.artists.models import ArtistCase, FailureCategory
from engine.core.roles import ARTIST
from engine.leases.models import Stage
from engine.leases.registry import ClaimFilter, StageSpec


def of_failure_category(quote):
    """Serve a case of the claim's failure category."""
    case = quote(ArtistCase._meta.db_table)
    return f"EXISTS (SELECT 1 FROM {case} c WHERE c.task_id = t.id AND c.failure_category = %(failure_category)s)"


ARTIST_STAGE = StageSpec(
    name=Stage.ARTIST.value, role=ARTIST, label="Stage 2.5 · Artist", order=3,
    related=("image", "object", "artist_case__best_candidate"), payload=artist_payload, submit=submit_artist,
    claim_filters={"failure_category": ClaimFilter(
        choices=tuple(FailureCategory.choices), sql=of_failure_category,
        help_text="Artist tasks only: serve a case of this failure category.",
    )},
)
