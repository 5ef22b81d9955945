"""simulation.E001: the truth storage may not lie inside MEDIA_ROOT."""

from engine.simulation.checks import check_truth_storage


def test_the_default_truth_storage_is_outside_media_root():
    assert check_truth_storage(None) == []


def test_a_truth_storage_inside_media_root_is_an_error(settings):
    settings.SIMULATION_TRUTH_ROOT = f"{settings.MEDIA_ROOT}/truth"
    [error] = check_truth_storage(None)
    assert error.id == "simulation.E001" and "SIMULATION_TRUTH_ROOT" in error.hint
    settings.SIMULATION_TRUTH_ROOT = settings.MEDIA_ROOT
    assert [e.id for e in check_truth_storage(None)] == ["simulation.E001"]
