"""The shipped taxonomy: merged everyday categories, breeds and synonyms resolved to one slug."""

from engine.intake.taxonomy import default_taxonomy_slugs, load_taxonomy, resolve_category


def test_dog_breeds_and_synonyms_are_one_dog():
    for label in ("dog", "Dog", "poodle", "golden_retriever", "  Golden   Retriever "):
        assert resolve_category(label) == "dog", label


def test_unknown_labels_and_categories_outside_a_project_resolve_to_nothing():
    assert resolve_category("warp drive") is None
    assert resolve_category("poodle", allowed={"chair"}) is None
    assert resolve_category("poodle", allowed={"dog", "chair"}) == "dog"


def test_every_slug_is_unique_and_no_synonym_names_two_categories():
    slugs = default_taxonomy_slugs()
    assert len(slugs) == len(set(slugs)) and "dog" in slugs
    seen = {}
    for category in load_taxonomy():
        for name in (category["slug"], category["name"].lower(), *category["synonyms"]):
            assert seen.setdefault(name, category["slug"]) == category["slug"], name
