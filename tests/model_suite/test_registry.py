import pytest

from model_suite.registry import DEFAULTS, SuiteConfigError, build_suite, resolve_config, selects, suite_status


PLUGIN = """
from model_suite.base import Generator

class Echo(Generator):
    name, version, kind = "echo", "1", "model"

def make_echo(config):
    return Echo()
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "my_generators.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_generators:make_echo"


def test_unknown_keys_are_refused_with_the_valid_ones_listed():
    with pytest.raises(SuiteConfigError, match="library_dir"):
        resolve_config({"libary_dir": "x"})


def test_every_builtin_is_built_and_those_missing_something_say_what(tmp_path):
    suite = build_suite({"library_dir": str(tmp_path)})
    rows = {r["name"]: r for r in suite_status(suite)}
    assert set(rows) == {"text_retrieval", "silhouette_retrieval", "geometric_lifting", "flow_model", "external"}
    assert rows["geometric_lifting"]["ok"]
    assert not rows["text_retrieval"]["ok"] and "import_shapes" in rows["text_retrieval"]["reason"]
    assert not rows["flow_model"]["ok"] and "flow_checkpoints" in rows["flow_model"]["reason"]
    assert not rows["external"]["ok"] and "external_url" in rows["external"]["reason"]


def test_one_generator_per_checkpoint_and_gpu_devices_go_to_the_gpu_queue(tmp_path):
    suite = build_suite({"flow_checkpoints": [str(tmp_path / "a"), {"path": str(tmp_path / "b"), "name": "flow_dpo", "device": "cuda"}]})
    flows = {g.name: g for g in suite if g.kind == "model"}
    first = f"flow_model@{tmp_path.name}-a"  # no slash: names end up in file names
    assert set(flows) == {first, "flow_dpo"}
    assert flows["flow_dpo"].queue == "gpu" and flows[first].queue == "cpu"
    assert "no checkpoint" in flows[first].availability().reason
    # "flow_model" picks every deployed checkpoint, whatever its name; other names pick only themselves.
    assert {g.name for g in suite if selects(["flow_model"], g)} == {first, "flow_dpo"}
    assert {g.name for g in suite if selects(["flow_dpo", "geometric_lifting"], g)} == {"flow_dpo", "geometric_lifting"}
    enabled = build_suite({"flow_checkpoints": [str(tmp_path / "a"), str(tmp_path / "c")], "enabled": ["flow_model"]})
    assert [g.name for g in enabled] == [first, f"flow_model@{tmp_path.name}-c"]


def test_enabled_and_plugins(plugin):
    suite = build_suite({"enabled": ["geometric_lifting", "echo"], "plugins": [plugin]})
    assert [g.name for g in suite] == ["geometric_lifting", "echo"]
    with pytest.raises(SuiteConfigError, match="unknown generators"):
        build_suite({"enabled": ["geometric_liftin"]})
    suite = build_suite({"plugins": [plugin]})
    assert suite[-1].name == "echo"
    with pytest.raises(SuiteConfigError, match="module:callable"):
        build_suite({"plugins": ["nocolon"]})


def test_defaults_document_every_key():
    assert set(DEFAULTS) >= {"library_dir", "flow_checkpoints", "external_url", "flow_best_of"}
