"""The production settings (engine/settings.py, read from the environment) plus views that fail, for test_logs."""

from engine.settings import *  # noqa: F403

ROOT_URLCONF = "tests.engine.core.boom_urls"
