"""Seed a demo project: users of every role, the shape library, real photographs and objects."""

import io
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image as PILImage
from tqdm import tqdm

from engine.core.models import Project
from engine.core.roles import ANNOTATOR, ARTIST, ENGINEER, grant

# scikit-image's real photographs, and the objects a Stage 1 annotator would pick in them: category,
# description and the hand-made outline that is the object's mask (engine/intake/photo_masks.json).
# True outlines, not boxes: Stage 3's mask IoU rewards covering the mask, so a box rewarded covering a box.
PHOTOS = {
    "astronaut": [("person", "astronaut in an orange space suit", "person")],
    "coffee": [("mug", "coffee cup, red outside and white inside, on a saucer", "mug")],
    "chelsea": [("cat", "tabby cat, head and shoulders", "cat")],
    "rocket": [("aircraft", "rocket on the launch pad", "rocket")],
    "motorcycle_left": [("motorcycle", "red motorcycle seen from the side", "motorcycle")],
}
# Photographs left for Stage 1: annotators choose the objects in them.
UNLABELLED = ["camera", "coins"]
USERS = {"demo-annotator": (ANNOTATOR,), "demo-artist": (ARTIST,), "demo-engineer": (ENGINEER,)}


class Command(BaseCommand):
    help = "Create demo users (password = username), a demo project, the shape library and real photographs."

    def add_arguments(self, parser):
        parser.add_argument("--project", default="demo", help="Project name.")
        parser.add_argument("--shapes", type=int, default=48, help="Procedural shapes added to the library.")
        parser.add_argument("--no-objects", action="store_true", help="Leave Stage 1 to the annotators.")

    def handle(self, *args, project, shapes, no_objects, **options):
        from skimage import data

        users = {}
        for name, roles in USERS.items():
            user, created = User.objects.get_or_create(username=name, defaults={"is_staff": ENGINEER in roles})
            if created:
                user.set_password(name)
                user.save()
            grant(user, *roles)
            users[name] = user
        self.stdout.write("Users: " + ", ".join(f"{n} / {n}" for n in USERS))

        self._library(shapes)
        proj, _ = Project.objects.get_or_create(
            name=project, defaults={"alpha": 0.5, "n_candidates": 8, "created_by": users["demo-engineer"]}
        )
        from engine.intake.services import ingest

        images = []
        for name in tqdm(PHOTOS, desc="ingest photographs", disable=options["verbosity"] == 0):
            buffer = io.BytesIO()
            PILImage.fromarray(getattr(data, name)() if name != "motorcycle_left" else data.stereo_motorcycle()[0]).save(
                buffer, format="PNG"
            )
            image, _ = ingest(proj, buffer.getvalue(), f"{name}.png", source_dataset="skimage", source_id=name,
                              user=users["demo-engineer"])
            images.append((name, image))
        for name in UNLABELLED:
            if not hasattr(data, name):
                continue
            buffer = io.BytesIO()
            PILImage.fromarray(getattr(data, name)()).save(buffer, format="PNG")
            ingest(proj, buffer.getvalue(), f"{name}.png", source_dataset="skimage", source_id=name,
                   user=users["demo-engineer"])
        self._point_cloud(images)
        if not no_objects:
            self._objects(proj, images, users["demo-annotator"])
        self.stdout.write(self.style.SUCCESS(f"Demo project {proj.name!r} (id {proj.pk}) is ready."))

    def _library(self, shapes):
        from django.conf import settings

        from model_suite import library, procedural

        lib = settings.SHAPE_LIBRARY_DIR
        if (lib / "index.jsonl").exists():
            self.stdout.write(f"Shape library already at {lib}")
            return
        raw = lib.parent / "library-src"
        procedural.generate_shapes(raw, shapes, seed=0)
        import pyvista

        pv_dir = Path(pyvista.__file__).parent / "examples"
        results = library.import_directory(raw, lib) + library.import_directory(pv_dir, lib)
        kept = sum(1 for r in results if r.accepted)
        self.stdout.write(f"Shape library at {lib}: {kept} shapes kept, {len(results) - kept} dropped by the filter")

    def _point_cloud(self, images):
        """Give the motorcycle photograph its real point cloud, from the Middlebury disparity map."""
        from engine.intake.services import attach_depth
        from model_suite import depth

        for name, image in images:
            if name == "motorcycle_left" and not image.point_cloud:
                _, metres, intrinsics = depth.motorcycle_example()
                attach_depth(image, metres, intrinsics, stride=2)  # ~90k points for the Stage 3 viewer

    @transaction.atomic
    def _objects(self, project, images, annotator):
        from engine.candidates.tasks import start_generation
        from engine.intake import masks
        from engine.intake.models import ObjectInstance
        from engine.intake.photo_masks import photo_masks
        from engine.leases.models import Stage, Task, TaskStatus

        for name, image in images:
            if image.instances.exists():
                continue
            outlined = photo_masks(name, image.height, image.width)
            for category, description, label in PHOTOS[name]:
                mask = outlined[label]
                obj = ObjectInstance.objects.create(
                    image=image, mask_rle=masks.encode(mask), area=int(mask.sum()), bbox=masks.bbox(mask),
                    category=category, description=description, selected_by=annotator,
                )
                transaction.on_commit(lambda oid=obj.pk: start_generation.delay(oid))
            Task.objects.filter(image=image, stage=Stage.SELECT).update(status=TaskStatus.DONE, completed_by=annotator)
