"""Flywheel fixtures: the fast CPU suite with our deployed checkpoints, and a run folder per test."""

import pytest

from tests.engine.simulation.conftest import fast_suite, shape_library  # noqa: F401


@pytest.fixture
def flywheel_suite(fast_suite, settings, tmp_path):  # noqa: F811
    """The fast CPU suite plus our deployed checkpoints, sampled in 4 steps."""
    from engine.candidates import generation

    settings.MODEL_SUITE = {"refine_pose": False, "flow_steps": 4}
    settings.RUNS_ROOT = tmp_path / "runs"
    generation._suite.cache_clear()
    yield settings
    generation._suite.cache_clear()
