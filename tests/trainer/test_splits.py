"""The bench's vocabulary split: training instances, novel instances and novel categories stay apart."""
import pytest

from model_suite.procedural import CATEGORIES, generate_shapes
from trainer.data.shapes import shape_category
from trainer.data.splits import NOVEL_CATEGORIES, read_vocabulary, split_vocabulary


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory):
    """Three procedural instances of each of the 20 categories (~0.5 s)."""
    out = tmp_path_factory.mktemp("shapes")
    generate_shapes(out, count=3 * len(CATEGORIES), seed=0)
    return out


def test_procedural_file_names_give_their_category():
    assert shape_category("motorcycle_0_00017") == "motorcycle" and shape_category("chair_5000_00120") == "chair"
    assert shape_category("airplane") == "airplane" and shape_category("assembly-1") == "chair"


def test_the_split_keeps_instances_and_categories_apart(vocabulary):
    split = split_vocabulary(vocabulary, train_per_category=2, novel_per_category=1)
    category = lambda paths: {shape_category(p.stem) for p in paths}
    assert len(split.train_category_names) == len(CATEGORIES) - len(NOVEL_CATEGORIES) >= 8
    assert category(split.train) == category(split.novel_instances) == set(split.train_category_names)
    assert category(split.novel_categories) == set(NOVEL_CATEGORIES)
    assert not category(split.train) & set(NOVEL_CATEGORIES)
    assert not set(split.train) & set(split.novel_instances)
    assert len(split.train) == 2 * 16 and len(split.novel_instances) == 16 and len(split.novel_categories) == 4
    # Every file of the folder is in at most one split, and the manifest's categories agree with the names.
    everything = split.train + split.novel_instances + split.novel_categories
    assert len(set(everything)) == len(everything)
    assert all(shape_category(p.stem) == c for c, paths in read_vocabulary(vocabulary).items() for p in paths)


def test_too_few_instances_or_no_manifest_is_a_clear_error(vocabulary, tmp_path):
    with pytest.raises(ValueError, match="too few instances of .*3 of 4"):
        split_vocabulary(vocabulary, train_per_category=3, novel_per_category=1)
    with pytest.raises(FileNotFoundError, match="python -m model_suite.procedural"):
        split_vocabulary(tmp_path, train_per_category=2, novel_per_category=1)
    generate_shapes(tmp_path / "some", count=3, seed=0, categories=("chair", "table", "mug"))
    with pytest.raises(ValueError, match="no shapes of the novel categories bench, cabinet, motorcycle, vase"):
        split_vocabulary(tmp_path / "some", train_per_category=2, novel_per_category=1)
