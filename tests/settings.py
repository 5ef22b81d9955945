"""Test settings: the engine's, with a throwaway media root and a fast password hasher."""

import os
import tempfile

from engine.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="engine-test-media-")
SHAPE_LIBRARY_DIR = Path(MEDIA_ROOT) / "library"  # noqa: F405
EXPORT_ROOT = Path(MEDIA_ROOT) / "exports"  # noqa: F405
LOGGING["loggers"]["engine"]["level"] = "WARNING"  # noqa: F405

# Several suites may run side by side on one PostgreSQL server: name the test database per run.
if os.environ.get("ENGINE_TEST_DB"):
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ["ENGINE_TEST_DB"]  # noqa: F405
RUNS_ROOT = Path(MEDIA_ROOT) / "runs"  # noqa: F405
# Celery tasks run in-process in tests; the worker tests start real workers with their own settings.
CELERY_TASK_ALWAYS_EAGER = True
# ...and in the call that sends them: a test reads what a job wrote right after the request that sent it
# (tests/engine/candidates/test_background.py and tests/annotation_ui/test_feedback.py turn the thread on).
ENGINE["BACKGROUND_THREADS"] = 0  # noqa: F405
