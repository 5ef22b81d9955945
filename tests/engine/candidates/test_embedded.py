"""The embedded mode: no REDIS_URL and no DATABASE_URL, and an object still gets its candidate set in-process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import io, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import numpy as np
from PIL import Image
from skimage import data
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from engine.candidates.tasks import start_generation
from engine.core.models import Project
from engine.intake import masks
from engine.intake.models import ObjectInstance
from engine.intake.services import ingest

assert not settings.REDIS_URL and connection.vendor == "sqlite", (settings.REDIS_URL, connection.vendor)
user = User.objects.create_user("e", password="e")
project = Project.objects.create(name="embedded", alpha=0.5, n_candidates=4, created_by=user,
                                 generators=["geometric_lifting", "silhouette_retrieval"])
buffer = io.BytesIO()
Image.fromarray(data.astronaut()).save(buffer, format="PNG")
image, _ = ingest(project, buffer.getvalue(), "astronaut.png", source_dataset="skimage", user=user)
mask = np.zeros((image.height, image.width), bool)
mask[50:300, 150:350] = True
obj = ObjectInstance.objects.create(image=image, mask_rle=masks.encode(mask), area=int(mask.sum()), bbox=masks.bbox(mask),
                                    category="person", description="an astronaut", selected_by=user)
start_generation.delay(obj.pk)  # the call the engine makes when an object is ready
cset = obj.candidate_sets.get()
print(cset.status, sorted(cset.candidates.values_list("generator", flat=True)))
"""


def test_without_redis_an_object_gets_its_set_in_process(tmp_path, shape_library):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="engine.settings", ENGINE_SQLITE_PATH=str(tmp_path / "engine.sqlite3"),
               MEDIA_ROOT=str(tmp_path / "media"), SHAPE_LIBRARY_DIR=str(shape_library), ENGINE_WARM_UP_WORKERS="0",
               PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    status, generators = run.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "ready", run.stdout
    assert generators == str(["geometric_lifting"] * 2 + ["silhouette_retrieval"] * 2)
