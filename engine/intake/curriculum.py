"""The curriculum over categories: which share of the work each category gets, from the groups' progress.

A project orders groups of categories from simple to complex (the published order, shipped in
taxonomy.json: simple rigid shapes, then structured objects, then deformable ones), each with a
target of training samples. The first group is open from the start; each later group opens as
the groups before it reach their targets:

    done_i   = min(1, samples_i / target_i)
    open_i   = done_1 · done_2 · … · done_{i-1}            (open_1 = 1)
    weight_i = open_i · (1 - done_i)                       (all targets met: weight_i = target_i)
    group share g_i = weight_i / Σ weight

A group's share is split evenly over its categories, and every category of the project's
taxonomy, in a group or not (the long tail: "other", or a category the project's groups leave
out), keeps a floor f:

    share_c = f + (1 - K f) · g_{group(c)} / |group(c)|    (K categories; 0 for c in no group)

so the shares add up to 1 and none is below f. Pure functions; engine.intake.priorities applies
them to the queue.
"""

from dataclasses import dataclass

from engine.intake.taxonomy import load_curriculum


class CurriculumError(ValueError):
    """A project's curriculum that cannot be used; the message names the entry and the fix."""


@dataclass(frozen=True)
class Group:
    """A group of categories, collected in the curriculum's order, with its target of training samples."""

    name: str
    categories: tuple[str, ...]
    target: int


def groups_of(curriculum, taxonomy, default_target):
    """Return the Groups of a project's `curriculum` setting (empty: the shipped order, each with `default_target`).

    Categories outside the project's `taxonomy` are left out of their group. Raise CurriculumError
    for a malformed entry.
    """
    shipped = {g["group"]: g for g in load_curriculum()}
    entries = curriculum or [{"group": g["group"]} for g in load_curriculum()]
    if not isinstance(entries, list):
        raise CurriculumError("The curriculum is a list of groups {group, categories, target}, simplest first.")
    allowed, seen, groups = set(taxonomy), {}, []
    known = {c for g in shipped.values() for c in g["categories"]} | allowed
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("group"), str) or not entry["group"]:
            raise CurriculumError(f"Curriculum entry {i + 1} needs a 'group' name.")
        name = entry["group"]
        categories = entry.get("categories")
        if categories is None:
            if name not in shipped:
                raise CurriculumError(f"Group {name!r} is not a shipped group ({', '.join(shipped)}); list its "
                                      "'categories'.")
            categories = shipped[name]["categories"]
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise CurriculumError(f"Group {name!r}: 'categories' is a list of category slugs.")
        target = entry.get("target", default_target)
        if not isinstance(target, int) or isinstance(target, bool) or target < 1:
            raise CurriculumError(f"Group {name!r}: 'target' is a number of training samples, at least 1; got {target!r}.")
        for slug in categories:
            if slug not in known:
                raise CurriculumError(f"Group {name!r}: {slug!r} is not a category (GET /api/categories/).")
            if slug in seen:
                raise CurriculumError(f"{slug!r} is in groups {seen[slug]!r} and {name!r}; a category has one group.")
            seen[slug] = name
        if name in {g.name for g in groups}:
            raise CurriculumError(f"Group {name!r} appears twice.")
        groups.append(Group(name, tuple(c for c in categories if c in allowed), target))
    return groups


def group_shares(groups, samples):
    """Return {group: share} from the training samples per group, as the module's formula says."""
    weights, opened = {}, 1.0
    for group in groups:
        done = min(1.0, samples.get(group.name, 0) / group.target)
        weights[group.name] = opened * (1.0 - done)
        opened *= done
    if sum(weights.values()) <= 0:  # every target met: on in proportion to the targets
        weights = {g.name: float(g.target) for g in groups}
    total = sum(weights.values()) or 1.0
    return {name: w / total for name, w in weights.items()}


def category_shares(groups, samples_by_category, taxonomy, floor):
    """Return {category: share of the work} over the project's taxonomy: its group's share, split, with the floor."""
    taxonomy = list(taxonomy)
    if floor * len(taxonomy) > 1:
        raise CurriculumError(f"A floor of {floor} for each of {len(taxonomy)} categories adds up to more than the whole; "
                              f"set it at most {1 / len(taxonomy):.4f}.")
    per_group = {g.name: sum(samples_by_category.get(c, 0) for c in g.categories) for g in groups}
    shares = group_shares([g for g in groups if g.categories], per_group)
    base = dict.fromkeys(taxonomy, 0.0)
    for group in groups:
        for slug in group.categories:
            base[slug] = shares.get(group.name, 0.0) / len(group.categories)
    if not any(base.values()):  # no group holds a category of this taxonomy: everything shares evenly
        base = dict.fromkeys(taxonomy, 1.0 / len(taxonomy))
    rest = 1.0 - floor * len(taxonomy)
    return {slug: floor + rest * base[slug] for slug in taxonomy}


def progress(groups, samples_by_category):
    """Return one row per group: its name, categories, target, samples and whether the target is met."""
    rows = []
    for group in groups:
        samples = sum(samples_by_category.get(c, 0) for c in group.categories)
        rows.append({"group": group.name, "categories": list(group.categories), "target": group.target,
                     "samples": samples, "done": samples >= group.target})
    return rows
