"""Preference pairs (chosen, rejected) for the same image and mask."""

from engine.records.models import PreferencePair


def pairs_against(obj, iteration, chosen, *, rating, rejected_ids, artist_mesh=None):
    """Pair the chosen mesh (a candidate, or an artist mesh) against every other candidate."""
    candidates = obj.candidate_sets.get(iteration=iteration).candidates.filter(id__in=rejected_ids)
    if chosen is not None:
        candidates = candidates.exclude(id=chosen.id)
    chosen_source = "artist" if artist_mesh else chosen.kind
    chosen_generator = "artist" if artist_mesh else chosen.generator
    for rejected in candidates:
        PreferencePair.objects.get_or_create(
            object=obj, iteration=iteration, rejected=rejected,
            defaults={
                "chosen_candidate": chosen, "chosen_artist_mesh": artist_mesh,
                "chosen_source": chosen_source, "rejected_source": rejected.kind,
                "chosen_generator": chosen_generator, "rejected_generator": rejected.generator,
                "rating": rating,
            },
        )
