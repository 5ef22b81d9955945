"""The share of their time the bench's annotators found work waiting: over the whole run and in its steady state.

Issue 21's goal: annotators at a person's pace find work waiting 99 % of the time. A bench has a
fixed pool of objects, so its annotation has three phases, and the share over all of it mixes them:

1. warm-up: the objects are selected in the first minutes and no candidate set is ready yet, so
   people wait for the first sets however fast the machine is;
2. steady state: sets become ready while others are still generating; a person who waits now waits
   on the machine (or on an artist, for a set rated below α);
3. tail: every object's set is ready, so the machine owes no more work; a person who waits now waits
   because the pool ran dry (every task left is someone else's), not for the machine.

The steady state is phase 2: from the first set ready for Stage 2 (or `--warmup` seconds) to the
last set ready when every object had its set by the end, else to the end of the annotation.
"""

WINDOW_RULE = ("from the first candidate set ready for Stage 2 (or --warmup) to the last set ready when every "
               "object had its set by the end (after it nobody waits for the machine), else to the end of the "
               "annotation")


def steady_window(duration, ready_offsets, all_sets_ready, warmup=None):
    """Return (start, end), seconds from the annotation's start, of its steady state; None when it is empty.

    `ready_offsets` are the seconds at which the candidate sets became ready; `all_sets_ready` says
    whether every object had its set by the end (then the tail after the last one is left out).
    """
    if warmup is None and not ready_offsets:
        return None  # no set ever reached Stage 2: the whole run was warm-up
    start = max(0.0, warmup if warmup is not None else min(ready_offsets))
    end = min(duration, max(ready_offsets) if all_sets_ready and ready_offsets else duration)
    return (start, end) if end > start else None


def idle_within(spans, start, end):
    """Return the seconds of the idle spans, each (start, seconds), that fall within [start, end]."""
    return sum(max(0.0, min(end, s + length) - max(start, s)) for s, length in spans)


def share_with_work(spans, members, start, end):
    """Return 1 - idle / (members x (end - start)): the share of the members' time in [start, end] they worked."""
    if members <= 0 or end <= start:
        return None
    return round(1 - idle_within(spans, start, end) / (members * (end - start)), 4)


BACKLOG_RULE = ("the engine kept up when the objects waiting for candidates grew by fewer than one per annotator "
                "over the second half of the steady state (a least-squares line through the queue samples there) "
                "and the annotators found work 99 % of the steady state: people who take Stage 1 images while "
                "their sets generate never wait, so their share alone cannot show an engine falling behind")


def backlog_growth(samples, start, end, key="generating"):
    """Return how much `key` grew over the second half of [start, end]: the least-squares slope through the
    samples (dicts with "t" and `key`) in that half, times its length; None with fewer than 3 samples there."""
    mid = (start + end) / 2
    rows = [(r["t"], r[key]) for r in samples if mid <= r["t"] <= end]
    if len(rows) < 3:
        return None
    n = len(rows)
    mean_t, mean_y = sum(t for t, _ in rows) / n, sum(y for _, y in rows) / n
    spread = sum((t - mean_t) ** 2 for t, _ in rows)
    if not spread:
        return None
    slope = sum((t - mean_t) * (y - mean_y) for t, y in rows) / spread
    return round(slope * (end - mid), 1)
