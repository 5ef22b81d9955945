"""pairs_against: the chosen mesh against each rejected candidate, once, as the stages' submits call it."""

from engine.records.models import PreferencePair
from engine.records.pairs import pairs_against


def test_the_winner_is_paired_against_each_other_candidate_it_was_shown_with_once(candidate_set):
    obj, iteration = candidate_set.object, candidate_set.iteration
    winner, *others = candidate_set.candidates.order_by("id")
    shown = [winner.pk, *(c.pk for c in others[:3])]  # the set's other candidates were not shown: no pair

    pairs_against(obj, iteration, winner, rating=0.8, rejected_ids=shown)
    pairs_against(obj, iteration, winner, rating=0.8, rejected_ids=shown)  # a repeat adds nothing

    pairs = PreferencePair.objects.filter(object=obj, iteration=iteration)
    assert sorted(pairs.values_list("rejected_id", flat=True)) == [c.pk for c in others[:3]]
    assert {(p.chosen_candidate_id, p.chosen_source, p.chosen_generator, p.rating) for p in pairs} == {
        (winner.pk, winner.kind, winner.generator, 0.8)}
    assert [(p.rejected_source, p.rejected_generator) for p in pairs] == [(c.kind, c.generator) for c in others[:3]]
