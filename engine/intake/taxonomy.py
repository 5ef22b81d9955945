"""The 3D-oriented category taxonomy, shipped as data in `taxonomy.json`."""

import json
from functools import lru_cache
from pathlib import Path

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.json")


@lru_cache(maxsize=1)
def load_taxonomy():
    """Return the shipped taxonomy: a list of {slug, name, group, synonyms}."""
    with TAXONOMY_PATH.open() as f:
        return tuple(json.load(f)["categories"])


def default_taxonomy_slugs():
    """Return every category slug of the shipped taxonomy (a project's default)."""
    return [c["slug"] for c in load_taxonomy()]


def resolve_category(label, allowed=None):
    """Return the category slug for a label or synonym (e.g. 'poodle' -> 'dog'), or None."""
    key = " ".join(str(label).strip().lower().replace("_", " ").split())
    for category in load_taxonomy():
        if key == category["slug"] or key == category["name"].lower() or key in category["synonyms"]:
            if allowed is None or category["slug"] in allowed:
                return category["slug"]
    return None


@lru_cache(maxsize=1)
def _curriculum():
    with TAXONOMY_PATH.open() as f:
        return tuple(json.load(f)["curriculum"]["groups"])


def load_curriculum():
    """Return the shipped curriculum: groups {group, name, categories}, simple to complex (the published order)."""
    return _curriculum()
