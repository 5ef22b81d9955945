"""WSGI entry point (gunicorn engine.wsgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
application = get_wsgi_application()

# Django imports the URLconf, and with it every view module (mesh validation pulls in open3d and
# trimesh: ~2 s), at a process's first request. A server process loads this module before it
# accepts connections, so importing here keeps that cost off the first requests: under load,
# the requests queued behind it waited seconds (the claim benchmark's p99).
get_resolver().url_patterns

# Without Redis, jobs run on threads of this process: send again what a stopped server left undone.
from engine.core import background  # noqa: E402

background.start()

# What is loaded now lives as long as the process: keep the collector from scanning it again on
# every full collection. The 250,000 objects of the imports made each one a 120 ms pause for the
# requests in flight; frozen, it takes well under a millisecond.
gc.freeze()
