"""The rating rubric of Stage 2: levels an annotator picks, mapped to r in [0, 1]."""

LEVELS = (
    (0, 0.0, "Unusable: wrong object, broken or empty mesh."),
    (1, 0.25, "Right category, wrong shape."),
    (2, 0.5, "Roughly the right shape, with major errors (missing or extra parts)."),
    (3, 0.75, "The right shape, with minor errors in proportions or details."),
    (4, 1.0, "Matches the object in the image."),
)


def rating_for_level(level):
    """Return the rating r of a rubric level, or raise ValueError."""
    for value, rating, _ in LEVELS:
        if value == level:
            return rating
    raise ValueError(f"Rubric level must be one of {[lv[0] for lv in LEVELS]}, not {level!r}.")
