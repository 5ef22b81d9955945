"""The Stage 2 procedure as plain functions over a candidate order and the answers so far.

Candidates are shown in a random order, two at a time. The annotator answers Left, Right
or Equal; the one not chosen is replaced by the next unseen candidate (on Equal one of
the two is kept at random, and that draw is recorded). After every candidate has been
shown, the survivor is the winner d*; every other candidate is rejected. N candidates
take N - 1 comparisons.
"""

import random
from dataclasses import dataclass

LEFT, RIGHT, EQUAL = "left", "right", "equal"
ANSWERS = (LEFT, RIGHT, EQUAL)


class TournamentError(ValueError):
    """An answer that does not fit the state of the tournament."""


@dataclass(frozen=True)
class State:
    """Where a tournament stands: the pair on screen, or the winner once done."""

    left: int | None
    right: int | None
    next_index: int  # index in the order of the next unseen candidate
    position: int  # comparisons made so far
    total: int
    winner: int | None = None

    @property
    def done(self):
        return self.winner is not None

    @property
    def shown(self):
        return min(self.next_index, self.total)


def start(order):
    """Return the first state for candidates shown in `order`."""
    if not order:
        raise TournamentError("A tournament needs at least one candidate.")
    if len(set(order)) != len(order):
        raise TournamentError(f"Candidate order repeats a candidate: {order}.")
    if len(order) == 1:
        return State(None, None, 1, 0, 1, winner=order[0])
    return State(order[0], order[1], 2, 0, len(order))


def tie_break_rng(seed, position):
    """Return the random source of the Equal draw at comparison `position` of a session seeded `seed`.

    The draw is fixed when the session opens (its seed comes from the system's randomness), so
    the page can swap at once on Equal as on Left or Right, and a replay finds the same side.
    """
    return random.Random(seed * 1009 + position)


def tie_break_side(seed, position):
    """Return the side an Equal answer keeps at comparison `position` (the draw `answer` makes)."""
    return tie_break_rng(seed, position).choice((LEFT, RIGHT))


def answer(order, state, choice, rng=None):
    """Apply one answer; return (new_state, kept, tie_break)."""
    if state.done:
        raise TournamentError("Every candidate has been shown; rate the winner.")
    if choice not in ANSWERS:
        raise TournamentError(f"Answer must be one of {', '.join(ANSWERS)}, not {choice!r}.")
    tie_break = choice == EQUAL
    if tie_break:
        choice = (rng or random).choice((LEFT, RIGHT))
    kept = state.left if choice == LEFT else state.right
    return advance(order, state, kept), kept, tie_break


def advance(order, state, kept):
    """Return the state after `kept` survived the comparison on screen."""
    if kept not in (state.left, state.right):
        raise TournamentError(f"Candidate {kept} is not on screen ({state.left} vs {state.right}).")
    position = state.position + 1
    if state.next_index >= state.total:
        return State(None, None, state.next_index, position, state.total, winner=kept)
    incoming = order[state.next_index]
    # The survivor keeps its side of the screen; the loser's side gets the next candidate.
    left, right = (kept, incoming) if kept == state.left else (incoming, kept)
    return State(left, right, state.next_index + 1, position, state.total)


def replay(order, comparisons):
    """Return the state after stored comparisons, each (left, right, kept), checking each fits."""
    state = start(order)
    for left, right, kept in comparisons:
        if (left, right) != (state.left, state.right):
            raise TournamentError(
                f"Comparison {state.position} showed {left} vs {right}, the procedure shows {state.left} vs {state.right}."
            )
        state = advance(order, state, kept)
    return state


def rejected(order, winner):
    """Return the rejected set R: every candidate but the winner."""
    return [c for c in order if c != winner]
